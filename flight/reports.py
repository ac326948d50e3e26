"""Telemetry out of the controller, stamped with the on-board clock: reports by name from the
dictionary, and events, throttled as the dictionary declares (event_throttle.py), each one sent
also logged, and every occurrence handed on to whatever listens for them (safe mode counts its
faults there, sent or not)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flight import dictionary as d
from flight.event_throttle import EventThrottle
from flight.events import Event
from flight.onboard_clock import OnboardClock
from flight.telemetry import TelemetryWriter

log = logging.getLogger("flight")


class Reports:
    """Sends telemetry through ``tm`` at the time of ``clock``."""

    def __init__(self, tm: TelemetryWriter, clock: OnboardClock) -> None:
        self.tm = tm
        self.clock = clock
        self.throttle = EventThrottle()
        self.listeners: list[Callable[[str], list[Event]]] = []
        """Each called with the name of every event made (sent or counted by its throttle); the
        events it returns follow it."""

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

    def event(self, event: Event) -> None:
        """Send an event report, unless its throttle counts it instead."""
        if self.throttle.admit(event, self.clock.ticks, self.clock.time):
            self._send_event(event)
        for listener in self.listeners:
            self.events(listener(event.name))

    def events(self, events: list[Event]) -> None:
        """Send event reports, in order."""
        for event in events:
            self.event(event)

    def second(self) -> None:
        """The throttle's summaries due this bus second."""
        for summary in self.throttle.due(self.clock.ticks):
            self._send_event(summary)

    def flush(self) -> None:
        """At a stop: every summary still pending."""
        for summary in self.throttle.pending():
            self._send_event(summary)

    def _send_event(self, event: Event) -> None:
        name, values = event
        if log.isEnabledFor(logging.INFO):  # enum values by their names, as the ground shows them
            named = {f.name: f.label(values.get(f.name)) for f in d.EVENTS_BY_NAME[name].args}
            log.info("event %s %s", name, named)
        self.tm.send_event(name, values, time=self.clock.time, synced=self.clock.synced)
