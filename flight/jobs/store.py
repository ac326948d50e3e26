"""The persistent job queue: one SQLite file (WAL, synchronous=FULL) holding every job the
controller has accepted and where each one stands.

A change is committed before the controller reports it (a submit is on disk before its
acceptance is verified; a completion is on disk before JOB_COMPLETED is sent), so a crash or a
power loss at any instant loses no accepted job and forgets no completion (docs/jobs.md).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

import msgpack

from flight.dictionary import JobState
from flight.database import open_database

SCHEMA_VERSION = 3  # 2: checkpoints (their digests), sdc_reruns; 3: verifies
# columns added since version 1: in a new store's table, and put into one an earlier controller
# made (x'90': msgpack's [])
_ADDED_COLUMNS = {
    "checkpoints": "BLOB NOT NULL DEFAULT x'90'",
    "sdc_reruns": "INTEGER NOT NULL DEFAULT 0",
    "verifies": "BLOB NOT NULL DEFAULT x'90'",
}
_ADDED = "".join(f",\n    {name} {kind}" for name, kind in _ADDED_COLUMNS.items())
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    manifest BLOB NOT NULL,
    state INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    queued_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    exit_code INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    run_s REAL NOT NULL DEFAULT 0,
    work_done REAL NOT NULL DEFAULT 0,
    progress REAL NOT NULL DEFAULT 0,
    checkpoint TEXT,
    checkpoint_work REAL NOT NULL DEFAULT 0,
    pid INTEGER,
    pid_start INTEGER,
    stop_reason TEXT,
    suspect INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT ''{_ADDED}
)
"""


class StoreError(Exception):
    """The store could not record a change (disk full, I/O error); nothing was changed."""


@dataclass
class JobRecord:
    """A job's row: what was accepted and where it stands."""

    id: str
    seq: int
    manifest: dict[str, Any]
    state: JobState
    priority: int
    queued_at: float
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    attempts: int = 0  # times started
    failures: int = 0  # non-zero exits
    run_s: float = 0.0  # bus seconds run, over all attempts
    work_done: float = 0.0  # simulated jobs: GPU work done (full-power seconds)
    progress: float = 0.0  # 0-1, as the job reports it
    checkpoint: str | None = None  # the latest checkpoint's name
    checkpoint_work: float = 0.0  # simulated jobs: the work the checkpoint holds
    pid: int | None = None  # the job's supervisor process while it runs
    pid_start: int | None = None  # its start time in clock ticks since boot (pid reuse check)
    stop_reason: str | None = None  # why the controller is stopping it
    # an uncorrectable GPU memory error happened while it ran, or a result was altered after the
    # job wrote it (result_digests.py)
    suspect: bool = False
    reason: str = ""  # why it ended as it did, or was last requeued
    # the checkpoints recorded, oldest first, each [name, SHA-256 of its file when it was named]
    # (the digest None for a simulated job's): the last MAX_CHECKPOINTS, to resume from the
    # newest one still intact
    checkpoints: list[list[str | None]] = field(default_factory=list)
    sdc_reruns: int = 0  # times run again because its integrity policy caught corruption
    # a verification run (verification.py): [the job it verifies, the checkpoint it starts from
    # (None: the job's start), the checkpoint it reproduces (None: the job's end, its results),
    # that checkpoint's recorded SHA-256, the job's attempt it checks]; [] for any other job
    verifies: list[str | int | None] = field(default_factory=list)


_COLUMNS = tuple(f.name for f in fields(JobRecord))


class JobStore:
    """Job records in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = open_database(path, _SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            for name, kind in _ADDED_COLUMNS.items():
                if name not in columns:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StoreError(f"job store {path}: {exc}") from None

    def close(self) -> None:
        """Close the file (everything is already committed)."""
        self._db.close()

    def load(self) -> Iterator[JobRecord]:
        """Every job, in submission order."""
        cursor = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs ORDER BY seq")
        for row in cursor:
            values = dict(zip(_COLUMNS, row, strict=True))
            values["manifest"] = msgpack.unpackb(values["manifest"], raw=False)
            values["state"] = JobState(values["state"])
            values["suspect"] = bool(values["suspect"])
            values["checkpoints"] = msgpack.unpackb(values["checkpoints"], raw=False)
            values["verifies"] = msgpack.unpackb(values["verifies"], raw=False)
            yield JobRecord(**values)

    def next_seq(self) -> int:
        """The sequence number the next submitted job gets."""
        (top,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()
        return top + 1

    def insert(self, job: JobRecord) -> None:
        """Record a newly accepted job, durably."""
        values = [_column_value(getattr(job, c)) for c in _COLUMNS]
        self._write(
            f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
            values,
        )

    def update(self, job: JobRecord, *names: str) -> None:
        """Record the named fields of a job, durably."""
        values = [_column_value(getattr(job, n)) for n in names]
        self._write(
            f"UPDATE jobs SET {', '.join(f'{n}=?' for n in names)} WHERE id=?", [*values, job.id]
        )

    def _write(self, sql: str, values: list[Any]) -> None:
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(sql, values)
        except sqlite3.Error as exc:
            raise StoreError(f"job store: {exc}") from None


def _column_value(value: Any) -> Any:
    """A record field as SQLite stores it: the state as its number, the manifest and the
    checkpoints as msgpack."""
    if isinstance(value, JobState):
        return int(value)
    if isinstance(value, (dict, list)):
        return msgpack.packb(value, use_bin_type=True)
    return value
