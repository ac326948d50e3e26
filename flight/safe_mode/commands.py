"""Safe mode's commands, SAFE_MODE_ENTER and SAFE_MODE_EXIT, and its ear on the event stream:
every fault event is counted, and the one that crosses the threshold puts the payload in safe
mode, reported right after it."""

from __future__ import annotations

from typing import Any

from flight.commanding.dispatch import Handler, Handlers
from flight.protocol.packets import Telecommand
from flight.reports import Reports
from flight.safe_mode.state import FAULT_EVENTS, SafeMode
from flight.events import EV, Event


class SafeModeCommands:
    """The handlers of the safe mode commands, and the listener that counts faults."""

    def __init__(self, safe: SafeMode, reports: Reports) -> None:
        self.safe = safe
        self.reports = reports
        reports.listeners.append(self._heard)

    def handlers(self) -> Handlers:
        """The safe mode commands by name."""
        return {
            "SAFE_MODE_ENTER": Handler(self._enter),
            "SAFE_MODE_EXIT": Handler(self._exit),
        }

    def _heard(self, name: str) -> list[Event]:
        if name in FAULT_EVENTS and self.safe.fault(self.reports.clock.time, name):
            return [EV.SAFE_MODE_ENTERED(reason=self.safe.reason)]
        return []

    def _enter(self, _tc: Telecommand, _args: Any) -> None:
        if not self.safe.active:
            self.safe.enter("by command")
            self.reports.event(EV.SAFE_MODE_ENTERED(reason=self.safe.reason))

    def _exit(self, _tc: Telecommand, _args: Any) -> None:
        if self.safe.active:
            self.safe.leave()
            self.reports.event(EV.SAFE_MODE_EXITED())
