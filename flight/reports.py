"""Telemetry out of the controller, stamped with the on-board clock: reports by name from the
dictionary, and events, each logged, and handed on to whatever listens for them (safe mode counts
its faults there)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flight import dictionary as d
from flight.onboard_clock import OnboardClock
from flight.telemetry import TelemetryWriter

log = logging.getLogger("flight")

Event = tuple[str, dict[str, Any]]


class Reports:
    """Sends telemetry through ``tm`` at the time of ``clock``."""

    def __init__(self, tm: TelemetryWriter, clock: OnboardClock) -> None:
        self.tm = tm
        self.clock = clock
        self.listeners: list[Callable[[str], list[Event]]] = []
        """Each called with the name of every event sent; the events it returns follow it."""

    def send(
        self,
        name: str,
        values: dict[str, Any],
        dest_id: int = d.SOURCE_GROUND,
        synced: bool | None = None,
    ) -> None:
        """Send the telemetry report ``name``; ``synced`` overrides the clock's own state."""
        self.tm.send(
            name,
            values,
            time=self.clock.time,
            synced=self.clock.synced if synced is None else synced,
            dest_id=dest_id,
        )

    def event(self, name: str, values: dict[str, Any]) -> None:
        """Send an event report."""
        if log.isEnabledFor(logging.INFO):  # enum values by their names, as the ground shows them
            named = {f.name: f.label(values.get(f.name)) for f in d.EVENTS_BY_NAME[name].args}
            log.info("event %s %s", name, named)
        self.tm.send_event(name, values, time=self.clock.time, synced=self.clock.synced)
        for listener in self.listeners:
            self.events(listener(name))

    def events(self, events: list[Event]) -> None:
        """Send event reports, in order."""
        for name, values in events:
            self.event(name, values)
