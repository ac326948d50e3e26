"""The controller's security state in SQLite: for each key, the highest sequence number accepted
(the anti-replay window) and whether the key is in use (rotation by command). Committed before the
command it admits is acted on, so a restart never lets a command in twice."""

from __future__ import annotations

import sqlite3
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    key_id INTEGER PRIMARY KEY, last_seq INTEGER, active INTEGER);
"""
_OFFSET = 1 << 63  # sequence numbers are u64, SQLite integers i64: stored shifted, order kept


class SecurityState:
    """Per-key anti-replay sequence numbers and activation, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self._last: dict[int, int] = {}
        self._active: dict[int, bool] = {}
        for key_id, last, active in self.db.execute("SELECT key_id, last_seq, active FROM keys"):
            if last is not None:
                self._last[key_id] = last + _OFFSET
            if active is not None:
                self._active[key_id] = bool(active)

    def last_seq(self, key_id: int) -> int:
        """The highest sequence number accepted under a key; -1 before the first."""
        return self._last.get(key_id, -1)

    def accept(self, key_id: int, seq: int) -> None:
        """Record an accepted sequence number (committed on return)."""
        self.db.execute(
            "INSERT INTO keys (key_id, last_seq) VALUES (?, ?) "
            "ON CONFLICT (key_id) DO UPDATE SET last_seq = excluded.last_seq",
            (key_id, seq - _OFFSET),
        )
        self._last[key_id] = seq

    def active(self, key_id: int) -> bool | None:
        """Whether a key was activated (True) or deactivated (False) by command; None if never."""
        return self._active.get(key_id)

    def set_active(self, key_id: int, active: bool) -> None:
        """Activate or deactivate a key (committed on return)."""
        self.db.execute(
            "INSERT INTO keys (key_id, active) VALUES (?, ?) "
            "ON CONFLICT (key_id) DO UPDATE SET active = excluded.active",
            (key_id, int(active)),
        )
        self._active[key_id] = active

    def close(self) -> None:
        self.db.close()
