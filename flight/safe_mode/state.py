"""Safe mode: after repeated faults the payload stops running jobs and holds the GPU at its lowest
power limit, keeping telemetry and commanding, until the ground clears it.

A fault is an event of FAULT_EVENTS: a GPU error (an Xid, an uncorrectable memory error, a library
call that failed), a store that cannot record, or a start after the controller did not stop cleanly
(a crash, a power loss, a watchdog restart). A job that fails is its own fault, not the payload's,
and does not count. The table's threshold of faults within its window_s bus seconds puts the
payload in safe mode; so does SAFE_MODE_ENTER. Only SAFE_MODE_EXIT takes it out. The state (in
safe mode or not, why, the recent faults, whether the controller is running) is kept in a small
file written whole and renamed into place, so safe mode and the crash count survive a restart;
when the file cannot be written (a full disk) the state holds in memory and the write is tried
again with the next change.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

FAULT_EVENTS = frozenset(
    {
        "GPU_XID",
        "GPU_ECC_UNCORRECTED",
        "GPU_ERROR",
        "STORE_ERROR",
        "UNCLEAN_START",
    }
)

log = logging.getLogger("flight")


class SafeMode:
    """The fault count and the safe-mode state of one controller."""

    def __init__(self, path: Path, threshold: int, window_s: float) -> None:
        """``threshold`` faults within ``window_s`` bus seconds: safe mode (its table,
        flight/tables/shipped/safe_mode.toml)."""
        self.path = path
        self.threshold = threshold
        self.window_s = window_s
        state = _read(path)
        self.active: bool = bool(state.get("active", False))
        self.reason: str = str(state.get("reason", ""))
        self.faults: list[float] = [float(t) for t in state.get("faults", [])]
        self.unclean_start: bool = bool(state.get("running", False))
        self.entered = 0  # times entered since this start
        self._save(running=True)

    def fault(self, time: float, what: str) -> bool:
        """Count a fault at bus time ``time`` (one a second: the events of one incident, an Xid
        and its memory error, count once); True when it puts the payload in safe mode."""
        if self.faults and self.faults[-1] == time:
            return False
        self.faults = [t for t in self.faults if time - t < self.window_s] + [time]
        if not self.active and len(self.faults) >= self.threshold:
            self.enter(f"{len(self.faults)} faults in {self.window_s:.0f} s, the last: {what}")
            return True
        self._save()
        return False

    def configure(self, table: dict[str, Any]) -> None:
        """A new safe mode table: its threshold and window count from the next fault."""
        self.threshold, self.window_s = table["threshold"], table["window_s"]

    def recent(self, now: float) -> int:
        """Faults counted in the window that ends now."""
        return sum(1 for t in self.faults if now - t < self.window_s)

    def enter(self, reason: str) -> None:
        """Into safe mode (by faults or by command)."""
        self.active, self.reason = True, reason
        self.entered += 1
        self._save()

    def leave(self) -> None:
        """Out of safe mode, by command: the fault count starts again."""
        self.active, self.reason, self.faults = False, "", []
        self._save()

    def stopped(self) -> None:
        """A clean stop: the next start is not a fault."""
        self._save(running=False)

    def _save(self, running: bool = True) -> None:
        state = {
            "active": self.active,
            "reason": self.reason,
            "faults": self.faults,
            "running": running,
        }
        tmp = self.path.with_suffix(".tmp")
        try:
            with open(tmp, "w") as f:
                json.dump(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:  # held in memory; written with the next change
            log.error("safe mode state not written: %s", exc)


def _read(path: Path) -> dict:
    """The state written last; empty when there is none or it is unreadable (a fresh start)."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}
