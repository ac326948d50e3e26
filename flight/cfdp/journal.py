"""The CFDP entity's durable state in SQLite: transaction snapshots, the sequence counter and the
history of finished transactions (what ``files`` lists).

WAL with synchronous=FULL, as the job store: a snapshot is on disk before the entity relies on
it, so a restart carries on every transaction the entity had accepted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import msgpack

from flight.database import open_database
from flight.cfdp.pdu import Condition

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS active (
    role TEXT NOT NULL, source_id INTEGER NOT NULL, seq_num INTEGER NOT NULL,
    snapshot BLOB NOT NULL, PRIMARY KEY (role, source_id, seq_num));
CREATE TABLE IF NOT EXISTS sources (path TEXT PRIMARY KEY, seq_num INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS history (
    role TEXT NOT NULL, source_id INTEGER NOT NULL, seq_num INTEGER NOT NULL,
    source_name TEXT, dest_name TEXT, size INTEGER, condition TEXT NOT NULL,
    delivered INTEGER NOT NULL, path TEXT, seconds REAL NOT NULL, finished_at REAL NOT NULL,
    PRIMARY KEY (role, source_id, seq_num));
"""


@dataclass(frozen=True)
class TransactionReport:
    """A transaction that ended (the Transaction-Finished indication), as the history keeps it."""

    role: str
    source_id: int
    seq_num: int
    source_name: str | None
    dest_name: str | None
    size: int | None
    condition: Condition
    delivered: bool
    path: str | None
    seconds: float
    """From the transaction's start here to its end, in the entity's clock."""


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = open_database(self.path, SCHEMA)

    def next_seq(self, modulus: int) -> int:
        """A transaction sequence number not used before by this entity (wrapping at modulus)."""
        with self.db:
            row = self.db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
            seq = ((row[0] if row else 0) + 1) % modulus
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (seq,))
        return seq

    def save_all(self, snapshots: list[tuple[str, int, int, dict]]) -> None:
        """Store transactions' snapshots (role, source id, sequence number, snapshot) in one
        database transaction; a sending transaction's source path is recorded with it (see
        sent_before)."""
        with self.db:
            for role, source_id, seq_num, snapshot in snapshots:
                self.db.execute(
                    "INSERT OR REPLACE INTO active VALUES (?, ?, ?, ?)",
                    (role, source_id, seq_num, msgpack.packb(snapshot)),
                )
                if role == "send":
                    self.db.execute(
                        "INSERT OR IGNORE INTO sources VALUES (?, ?)", (snapshot["path"], seq_num)
                    )

    def sent_before(self, path: str) -> bool:
        """Whether a transaction was ever started to send this file."""
        row = self.db.execute("SELECT 1 FROM sources WHERE path=?", (path,)).fetchone()
        return row is not None

    def active(self) -> list[tuple[str, int, int, dict]]:
        rows = self.db.execute("SELECT role, source_id, seq_num, snapshot FROM active").fetchall()
        return [(r, s, q, msgpack.unpackb(b, strict_map_key=False)) for r, s, q, b in rows]

    def finish(self, report: TransactionReport) -> None:
        """Record how a transaction ended and forget its snapshot, in one transaction."""
        r = report
        with self.db:
            self.db.execute(
                "DELETE FROM active WHERE role=? AND source_id=? AND seq_num=?",
                (r.role, r.source_id, r.seq_num),
            )
            self.db.execute(
                "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    r.role,
                    r.source_id,
                    r.seq_num,
                    r.source_name,
                    r.dest_name,
                    r.size,
                    r.condition.name,
                    int(r.delivered),
                    r.path,
                    r.seconds,
                    time.time(),
                ),
            )

    def history(self) -> list[TransactionReport]:
        """Every transaction that ended, oldest first."""
        rows = self.db.execute("SELECT * FROM history ORDER BY finished_at, seq_num").fetchall()
        return [TransactionReport(*r[:6], Condition[r[6]], bool(r[7]), r[8], r[9]) for r in rows]

    def close(self) -> None:
        self.db.close()
