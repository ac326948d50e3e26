"""Event throttling, as F Prime's event throttles and cFS EVS filters do it: an event declared with
a throttle is sent the first time; repeats within its throttle_s of the last occurrence are
counted, not sent; when it stops (throttle_s without it), and at most once a throttle_s while it
goes on, one EVENT_REPEATED carries the count, the span and the last one's fields. Throttling is
by event name, as the dictionary declares it; nothing about an occurrence is lost but the copies.
Windows are counted in bus ticks, not bus time, so that a clock that jumps neither opens nor
closes one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flight import dictionary as d
from flight.events import EV, Event
from flight.protocol.timecode import MAX_CUC_S


def declared_throttles() -> dict[str, int]:
    """The throttle of each throttled event, from the dictionary."""
    return {e.name: e.throttle_s for e in d.EVENTS if e.throttle_s}


@dataclass
class _Window:
    """A throttled event seen recently: ticks for its window, bus times for its summary."""

    opened: int  # the tick it was sent, or last summarised
    last_tick: int
    repeats: int = 0
    first: float = 0.0
    last: float = 0.0
    latest: dict[str, Any] = field(default_factory=dict)


class EventThrottle:
    """Decides which occurrences go down and when their summaries do."""

    def __init__(self, throttles: Mapping[str, int] | None = None) -> None:
        self.throttles = declared_throttles() if throttles is None else dict(throttles)
        self.suppressed = 0  # occurrences counted and not sent, since the start
        self._open: dict[str, _Window] = {}

    def admit(self, event: Event, tick: int, time: float) -> bool:
        """Whether this occurrence, at bus tick ``tick`` and bus time ``time``, is sent (False:
        it is counted in its window)."""
        throttle = self.throttles.get(event.name)
        if throttle is None:
            return True
        window = self._open.get(event.name)
        if window is None:
            self._open[event.name] = _Window(opened=tick, last_tick=tick)
            return True
        if not window.repeats:
            window.first = time
        window.repeats += 1
        window.last_tick, window.last = tick, time
        window.latest = event.values
        self.suppressed += 1
        return False

    def due(self, tick: int) -> list[Event]:
        """The summaries due at bus tick ``tick``: of events that stopped, and of those going on
        for a throttle since their window opened. Windows of events that stopped are closed."""
        out = []
        for name, window in list(self._open.items()):
            throttle = self.throttles[name]
            stopped = tick - window.last_tick >= throttle
            if stopped:
                del self._open[name]
            if window.repeats and (stopped or tick - window.opened >= throttle):
                out.append(self._summary(name, window))
                window.opened, window.repeats = tick, 0
        return out

    def pending(self) -> list[Event]:
        """Every summary not yet sent (at a stop), the windows closed."""
        out = [self._summary(n, w) for n, w in self._open.items() if w.repeats]
        self._open.clear()
        return out

    @staticmethod
    def _summary(name: str, window: _Window) -> Event:
        latest = ", ".join(f"{k}={v!r}" for k, v in window.latest.items())
        return EV.EVENT_REPEATED(
            event=name,
            repeats=min(window.repeats, 0xFFFF_FFFF),
            first=min(window.first, MAX_CUC_S),
            last=min(window.last, MAX_CUC_S),
            latest=latest,
        )
