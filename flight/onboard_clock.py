"""The controller's clock: bus time from the bus's ticks, whether it has been set since the start,
and the count of ticks. Nothing on board reads another clock for what it reports."""

from __future__ import annotations

from dataclasses import dataclass

from flight.protocol.timecode import MAX_CUC_S
from flight.events import EV, Event

TIME_JUMP_S = 0.5  # a tick further than this from one second after the last is a jump


@dataclass
class OnboardClock:
    """Bus time as the latest tick gave it."""

    time: float = 0.0
    synced: bool = False  # set by a tick since the start: telemetry says so in its time field
    first_tick_time: float = 0.0
    ticks: int = 0

    def set(self, time: float) -> float:
        """Take a tick's time; the time it was expected to give (one second after the last)."""
        expected = self.time + 1.0
        self.time = time
        return expected

    def synchronise(self, expected: float) -> list[Event]:
        """After set(): TIME_SYNCHRONISED on the first tick, TIME_JUMP when the tick was not
        one second after the last; the tick counted."""
        events: list[Event] = []
        if not self.synced:
            self.synced = True
            self.first_tick_time = self.time
            events.append(EV.TIME_SYNCHRONISED(time=self.time))
        elif abs(self.time - expected) > TIME_JUMP_S:
            events.append(EV.TIME_JUMP(expected=min(expected, MAX_CUC_S), received=self.time))
        self.ticks += 1
        return events

    @property
    def uptime_s(self) -> int:
        """Whole bus seconds since the first tick."""
        return int(max(0.0, self.time - self.first_tick_time))
