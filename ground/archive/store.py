"""The ground archive: every telemetry packet as it arrived (raw, so anything can be decoded
again with a later dictionary), every command sent with the account that sent it, and the audit
trail (ground/audit.py); every row under the spacecraft id it came from or went to. In SQLite
or PostgreSQL (ground/archive/databases.py), the same schema in each
(ground/archive/schema.py).

``flush`` commits the chunks being filled (ground/archive/chunks.py), the commands and the audit
rows since the last, in one transaction; the station does so a few times a second, and the
archive itself whenever FLUSH_AT packets are held (a commit waits for the disk: a few per second
at full rate rather than one per chunk).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from ground.archive.chunks import CHUNK, CHUNK_COLUMNS, ArchivedPacket, ChunkBuilder, unpack_chunk
from ground.archive.databases import connect
from ground.archive.schema import prepare
from ground.audit import AuditTrail, canonical_json

FLUSH_AT = 8 * CHUNK
_COMMAND_COLUMNS = ("scid", "sent", "name", "args", "request_id", "account")
_CHUNK_READ = "SELECT scid, data, starts, erts, playback FROM chunks"


class ArchivedCommand(NamedTuple):
    sent: float
    name: str
    args: dict[str, Any]
    request_id: bytes
    account: str | None
    scid: int


class Archive:
    """One archive: ``spec`` is a SQLite file's path or a ``postgresql://`` URL. ArchiveError
    (one line) when it cannot be opened, or is at another schema version; a SQLite file that is
    missing is made only when ``create``."""

    def __init__(self, spec: str | Path, create: bool = True) -> None:
        self.db = connect(spec, create)
        try:
            prepare(self.db)
        except BaseException:
            self.db.close()
            raise
        self.where = self.db.where
        self.errors = self.db.errors  # what a failed commit raises
        self.audit = AuditTrail(self.db)
        self._chunks = ChunkBuilder()
        self._commands: list[tuple[int, float, str, str, bytes, str | None]] = []

    @property
    def pending(self) -> int:
        """Packets, commands and audit rows held in memory, not yet committed."""
        return self._chunks.held + len(self._commands) + len(self.audit.pending)

    def packet(self, scid: int, raw: bytes, ert: float, playback: bool = False) -> None:
        """Archive one packet from spacecraft ``scid`` (committed with its chunk, or at the next
        flush)."""
        self._chunks.add(scid, raw, ert, playback)
        if self._chunks.held % FLUSH_AT == 0:  # after a failed commit, the next try is later
            self.flush()

    def command(
        self,
        scid: int,
        sent: float,
        name: str,
        args: dict[str, Any],
        request_id: bytes,
        account: str | None = None,
    ) -> None:
        """Archive a command sent to spacecraft ``scid``, and by whom (committed at the next
        flush)."""
        self._commands.append((scid, sent, name, canonical_json(args), request_id, account))

    def flush(self) -> None:
        """Commit the chunks being filled, and the commands and audit rows since the last flush.

        One of ``errors`` if that fails (a full disk, a lost server): then everything stays held
        in memory, to be committed by the next flush that succeeds; nothing is lost."""
        if not self.pending:
            return
        with self.db.transaction():
            if self._chunks.held:
                self.db.copy("chunks", CHUNK_COLUMNS, self._chunks.rows())
            if self._commands:
                self.db.copy("commands", _COMMAND_COLUMNS, self._commands)
            self.audit.write_pending()
        self._chunks.clear()
        self._commands = []
        self.audit.written()

    def packets(
        self,
        start: float | None = None,
        end: float | None = None,
        *,
        spacecraft: int | None = None,
        name: str | None = None,
        service: int | None = None,
        subtype: int | None = None,
    ) -> list[ArchivedPacket]:
        """Archived telemetry with on-board times in [start, end) (all packets, those without a
        time too, when neither is given), of one spacecraft, one name (a telemetry packet's or
        an event's), one service and one subtype where given; by on-board time then arrival."""
        self.flush()
        where, params = _selection(spacecraft, name, service, subtype)
        bounded = start is not None or end is not None
        if bounded:
            where.append("time_max >= ? AND time_min < ?")
            params += [start if start is not None else -1e300, end if end is not None else 1e300]
        sql = _CHUNK_READ + _where(where) + " ORDER BY id"
        out = []
        for row in self.db.execute(sql, params):
            for packet in unpack_chunk(*row):
                if bounded and (
                    packet.time is None
                    or (start is not None and packet.time < start)
                    or (end is not None and packet.time >= end)
                ):
                    continue
                out.append(packet)
        out.sort(key=lambda p: (p.time is None, p.time or 0.0, p.ert))
        return out

    def latest(
        self, service: int, subtype: int, spacecraft: int | None = None
    ) -> ArchivedPacket | None:
        """The packet of this service and subtype (from this spacecraft, if given) that arrived
        last, or None."""
        self.flush()
        where, params = _selection(spacecraft, None, service, subtype)
        sql = _CHUNK_READ + _where(where) + " ORDER BY ert_max DESC, id DESC LIMIT 1"
        row = self.db.execute(sql, params).fetchone()
        if row is None:
            return None
        return max(unpack_chunk(*row), key=lambda p: p.ert)

    def commands(self, spacecraft: int | None = None) -> list[ArchivedCommand]:
        """Every command archived (to this spacecraft, if given), as sent."""
        self.flush()
        where, params = _selection(spacecraft, None, None, None)
        sql = "SELECT sent, name, args, request_id, account, scid FROM commands"
        rows = self.db.execute(sql + _where(where) + " ORDER BY id", params)
        return [
            ArchivedCommand(s, n, json.loads(a), bytes(r or b""), who, scid)
            for s, n, a, r, who, scid in rows
        ]

    def count(self, spacecraft: int | None = None) -> int:
        """How many packets the archive holds (from this spacecraft, if given)."""
        self.flush()
        where, params = _selection(spacecraft, None, None, None)
        sql = "SELECT COALESCE(SUM(count), 0) FROM chunks" + _where(where)
        return int(self.db.execute(sql, params).fetchone()[0])

    def spacecraft(self) -> list[int]:
        """The spacecraft ids the archive holds packets or commands of."""
        self.flush()
        rows = self.db.execute("SELECT scid FROM chunks UNION SELECT scid FROM commands")
        return sorted(int(r[0]) for r in rows)

    def prune(self, before: float) -> tuple[int, int]:
        """Retention: the packets that all arrived, and the commands sent, before ``before``
        (seconds since 1970) deleted; how many of each. The audit trail is kept whole (its hash
        chain runs from its first row)."""
        self.flush()
        with self.db.transaction():
            packets = self.db.execute(
                "SELECT COALESCE(SUM(count), 0) FROM chunks WHERE ert_max < ?", (before,)
            ).fetchone()[0]
            commands = self.db.execute(
                "SELECT COUNT(*) FROM commands WHERE sent < ?", (before,)
            ).fetchone()[0]
            self.db.execute("DELETE FROM chunks WHERE ert_max < ?", (before,))
            self.db.execute("DELETE FROM commands WHERE sent < ?", (before,))
        return int(packets), int(commands)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.db.close()


def _selection(
    spacecraft: int | None, name: str | None, service: int | None, subtype: int | None
) -> tuple[list[str], list[Any]]:
    """WHERE terms and their parameters for the columns given."""
    where, params = [], []
    for column, value in (("scid", spacecraft), ("name", name), ("service", service),
                          ("subtype", subtype)):  # fmt: skip
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return where, params


def _where(terms: list[str]) -> str:
    return " WHERE " + " AND ".join(terms) if terms else ""
