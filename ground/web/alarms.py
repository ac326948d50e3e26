"""The alarm list: a telemetry value beyond its yellow or red limit raises an alarm, which stays
until an operator acknowledges it, even after the value returns within its limits, as operators
of COSMOS and Yamcs expect. An acknowledged alarm whose value goes out again is raised again; a
shelved one is kept but not shown until its shelf time ends. One list for every page, kept by
the server (in memory: a restart clears it; the archive still holds every value).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from flight.protocol.messages import DecodedTelemetry

_RANK = {"yellow": 1, "red": 2}


@dataclass
class Alarm:
    key: str  # PACKET.field
    level: str  # the worst seen: yellow or red
    value: Any
    first: float  # on-board time (ms) it went out
    last: float  # on-board time (ms) of the latest value
    returned: bool = False  # the latest value is within limits again
    acknowledged_by: str | None = None
    shelved_until: float | None = None  # wall time (s)

    def shown(self, now: float) -> dict[str, Any]:
        out = asdict(self)
        out["shelved"] = self.shelved_until is not None and now < self.shelved_until
        return out


class AlarmBook:
    def __init__(self, announce: Callable[[dict[str, Any]], None]) -> None:
        self.announce = announce  # told every change: {"op": "alarm", ...} or "alarm-cleared"
        self.alarms: dict[str, Alarm] = {}
        self._seen: dict[str, float] = {}  # packet name -> newest on-board time observed

    def observe(self, tm: DecodedTelemetry) -> None:
        """Every packet, from whichever station link has it first (each is judged once)."""
        t = tm.packet.time * 1000
        if t <= self._seen.get(tm.name, float("-inf")):
            return
        self._seen[tm.name] = t
        if tm.event is not None:
            return
        for f in tm.fields:
            value = tm.values.get(f.name)
            if f.limits is None or not isinstance(value, (int, float)):
                continue
            self._judge(f"{tm.name}.{f.name}", f.limits.level(value), value, t)

    def _judge(self, key: str, level: str | None, value: Any, t: float) -> None:
        alarm = self.alarms.get(key)
        if level is None:
            if alarm is not None and not alarm.returned:
                alarm.returned, alarm.value, alarm.last = True, value, t
                self._changed(alarm)
            return
        if alarm is None:
            self.alarms[key] = alarm = Alarm(key, level, value, t, t)
        elif alarm.returned:  # out again before anyone acknowledged it
            alarm.returned = False
            alarm.level = max(alarm.level, level, key=_RANK.__getitem__)
        elif _RANK[level] > _RANK[alarm.level]:  # worse: to be acknowledged again
            alarm.level, alarm.acknowledged_by = level, None
        else:
            alarm.value, alarm.last = value, t
            return  # still out, no worse: nothing to tell
        alarm.value, alarm.last = value, t
        self._changed(alarm)

    def acknowledge(self, key: str, account: str) -> bool:
        """Acknowledge an alarm; False if there is none of that key."""
        alarm = self.alarms.get(key)
        if alarm is None:
            return False
        alarm.acknowledged_by = account
        self._changed(alarm)
        return True

    def shelve(self, key: str, minutes: float) -> bool:
        """Hide an alarm for ``minutes``; False if there is none of that key."""
        alarm = self.alarms.get(key)
        if alarm is None:
            return False
        alarm.shelved_until = time.time() + minutes * 60
        self._changed(alarm)
        return True

    def listing(self) -> list[dict[str, Any]]:
        now = time.time()
        return [a.shown(now) for a in self.alarms.values()]

    def _changed(self, alarm: Alarm) -> None:
        if alarm.returned and alarm.acknowledged_by is not None:  # done with: off the list
            del self.alarms[alarm.key]
            self.announce({"op": "alarm-cleared", "key": alarm.key})
        else:
            self.announce({"op": "alarm", **alarm.shown(time.time())})
