"""The ground's files: what the payload's CFDP entity delivered, verified, listed and unpacked.

Every file that arrives is recorded with its CFDP outcome. A job's results are checked against
the SHA-256 its RESULTS.json lists (whichever of the two arrives last triggers the check); a
result that disagrees is moved to ``rejected/`` and marked so: it is never left where a user
would take it for the job's output. Results whose RESULTS.json says they are suspect are marked
suspect, never verified. Stored telemetry files (``stored/*.tm``) are split back into
their packets for the station to pass on.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from flight.downlink import RESULTS_MANIFEST, file_sha256
from flight.database import open_database
from flight.protocol.packets import split_packets

REJECTED_DIR = "rejected"

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    name TEXT PRIMARY KEY, size INTEGER, condition TEXT NOT NULL, delivered INTEGER NOT NULL,
    check_state TEXT NOT NULL, sha256 TEXT, received_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class FileRow:
    name: str
    size: int | None
    condition: str
    delivered: bool
    check: str
    """verified (SHA-256 agrees with RESULTS.json), suspect (it agrees, but RESULTS.json says the
    payload does not trust the job's results: never verified), rejected (it does not agree), cfdp
    (no manifest names it: the CFDP checksum is the check), pending (its RESULTS.json has not
    arrived)."""
    sha256: str | None
    received_at: float


class FileRegistry:
    def __init__(self, state_dir: Path) -> None:
        self.files_dir = state_dir / "files"
        self.db = open_database(state_dir / "files.sqlite", SCHEMA, synchronous="FULL")

    def received(
        self, name: str, size: int | None, condition: str, delivered: bool
    ) -> tuple[FileRow, bool]:
        """Record a transaction's file and run the checks it makes possible; the row, and
        whether it was a repeat: the same content delivered again under the same name (a sender
        that never heard the first delivery's Finished sends it anew), recorded once. A name
        from the root of the sender's virtual file store (``/j/model.bin``) is recorded as the
        store names it (``j/model.bin``): never a path of this machine's."""
        check, digest = "cfdp", None
        pure = PurePosixPath(name)
        if pure.is_absolute():  # the file store's root (flight/cfdp/filestore.py)
            pure = PurePosixPath(*pure.parts[1:])
            name = pure.as_posix() if pure.parts else ""
        in_job = len(pure.parts) >= 2 and pure.parts[0] not in ("stored", REJECTED_DIR)
        if delivered and (self.files_dir / name).is_file():  # not a metadata-only transfer
            digest = file_sha256(self.files_dir / name)
            check = "pending" if in_job and pure.name != RESULTS_MANIFEST else "cfdp"
            before = self.row(name)
            if (
                before is not None
                and before.delivered
                and before.sha256 == digest
                and before.check != "rejected"  # that is moved aside again, as the first was
            ):
                return before, True
        self._put(FileRow(name, size, condition, delivered, check, digest, time.time()))
        if delivered and in_job:
            self._check_job(pure.parent)
        return self.row(name), False

    def _check_job(self, job: PurePosixPath) -> None:
        manifest = self.files_dir / job / RESULTS_MANIFEST
        if not manifest.is_file():
            return
        try:
            summary = json.loads(manifest.read_text())
            listed = {r["path"]: r["sha256"] for r in summary["results"]}
            suspect = summary.get("suspect") is True
        except (ValueError, KeyError, TypeError):
            return
        prefix = f"{job}/"
        for row in self.rows():
            if row.check == "pending" and row.name.startswith(prefix):
                path = row.name[len(prefix) :]
                if path not in listed:  # in the job's directory, but not one of its results
                    self._put(_replace(row, check="cfdp"))
        for path, expected in listed.items():
            row = self.row(str(job / path))
            if row is None or row.check != "pending":
                continue
            if row.sha256 == expected:
                self._put(_replace(row, check="suspect" if suspect else "verified"))
            else:
                where = self.files_dir / REJECTED_DIR / job / path
                where.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.files_dir / job / path, where)
                self._put(_replace(row, check="rejected"))

    def _put(self, row: FileRow) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                row.name,
                row.size,
                row.condition,
                int(row.delivered),
                row.check,
                row.sha256,
                row.received_at,
            ),
        )

    def row(self, name: str) -> FileRow | None:
        r = self.db.execute("SELECT * FROM files WHERE name=?", (name,)).fetchone()
        return None if r is None else FileRow(r[0], r[1], r[2], bool(r[3]), *r[4:])

    def rows(self) -> list[FileRow]:
        rows = self.db.execute("SELECT * FROM files ORDER BY received_at, name").fetchall()
        return [FileRow(r[0], r[1], r[2], bool(r[3]), *r[4:]) for r in rows]

    def close(self) -> None:
        self.db.close()


def stored_packets(path: Path) -> list[bytes]:
    """The space packets of a stored telemetry file, in order (a damaged tail is dropped)."""
    return split_packets(path.read_bytes())


def _replace(row: FileRow, **changes) -> FileRow:
    return FileRow(**{**row.__dict__, **changes})
