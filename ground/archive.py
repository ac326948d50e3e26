"""The ground archive: every telemetry packet as it arrived (raw, so anything can be decoded again
with a later dictionary), every command sent with the account that sent it, and the audit trail
(ground/audit.py), in SQLite.

Packets are stored in chunks of up to CHUNK packets: one row holds their octets back to back,
where each starts, when each arrived and whether it was played back, and the range of on-board
times the chunk covers (what queries select on). One row per chunk rather than per packet is what
makes ingest fast; a packet's meaning is decoded when it is read back. ``flush`` commits the
chunk being filled, the commands and the audit rows since the last; the station does so a few
times a second.
"""

from __future__ import annotations

import json
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flight.protocol.fields import FieldError
from flight.database import open_database
from flight.protocol.messages import DecodedTelemetry, decode_telemetry
from flight.protocol.packets import PacketError, parse_packet
from ground.audit import AuditTrail, canonical_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, time_min REAL, time_max REAL, count INTEGER NOT NULL,
    data BLOB NOT NULL, starts BLOB NOT NULL, erts BLOB NOT NULL, playback BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_time ON chunks (time_max, time_min);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY, sent REAL NOT NULL, name TEXT NOT NULL, args TEXT NOT NULL,
    request_id BLOB, account TEXT);
"""
CHUNK = 1024
_HEADER = struct.Struct(">HHH")
# PUS-C TM secondary header after the 6-octet primary header: version/time-ref, service,
# subtype, message counter (2), destination (2), then CUC time: 4 octets of seconds, 2 of fraction.
_TM_KIND = struct.Struct(">xBB4xIH")
TM_MIN = 6 + _TM_KIND.size


@dataclass(frozen=True)
class ArchivedPacket:
    ert: float
    playback: bool
    raw: bytes
    time: float | None
    service: int | None
    subtype: int | None

    def decoded(self) -> DecodedTelemetry | None:
        """The packet's meaning under this dictionary; None if it does not decode."""
        try:
            return decode_telemetry(parse_packet(self.raw))
        except (PacketError, FieldError):
            return None


def header_fields(raw: bytes) -> tuple[Any, ...]:
    """APID, sequence count, service, subtype and on-board time of a TM packet, or Nones."""
    if len(raw) < TM_MIN or raw[0] & 0x10:  # too short for a PUS TM packet, or a TC
        return (None,) * 5
    first, seq, _ = _HEADER.unpack_from(raw)
    service, subtype, coarse, fine = _TM_KIND.unpack_from(raw, 6)
    return first & 0x7FF, seq & 0x3FFF, service, subtype, coarse + fine / 65536


def _time(raw: bytes) -> float | None:
    if len(raw) < TM_MIN or raw[0] & 0x10:
        return None
    _, _, coarse, fine = _TM_KIND.unpack_from(raw, 6)
    return coarse + fine / 65536


class Archive:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = open_database(self.path, SCHEMA, synchronous="NORMAL")
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(commands)")}
        if "account" not in columns:  # an archive from before accounts
            self.db.execute("ALTER TABLE commands ADD COLUMN account TEXT")
        self.audit = AuditTrail(self.db)
        self._raws: list[bytes] = []
        self._erts = array("d")
        self._playback = bytearray()
        self._times: list[float] = []
        self._commands: list[tuple[float, str, str, bytes, str | None]] = []

    @property
    def pending(self) -> int:
        """Packets, commands and audit rows held in memory, not yet committed."""
        return len(self._raws) + len(self._commands) + len(self.audit.pending)

    def packet(self, raw: bytes, ert: float, playback: bool = False) -> None:
        """Archive one packet (committed with its chunk, or at the next flush)."""
        self._raws.append(raw)
        self._erts.append(ert)
        self._playback.append(playback)
        t = _time(raw)
        if t is not None:
            self._times.append(t)
        if len(self._raws) % CHUNK == 0:  # after a failed commit, the next try is a chunk on
            self.flush()

    def flush(self) -> None:
        """Commit the chunk being filled, and the commands and audit rows since the last flush.

        sqlite3.Error or OSError if that fails (a full disk): then everything stays held in
        memory, to be committed by the next flush that succeeds; nothing is lost."""
        if not self.pending:
            return
        with self.db:
            if self._raws:
                self._insert_chunk()
            self.db.executemany(
                "INSERT INTO commands (sent, name, args, request_id, account) "
                "VALUES (?, ?, ?, ?, ?)",
                self._commands,
            )
            self.audit.write_pending()
        self._raws, self._erts, self._playback, self._times = [], array("d"), bytearray(), []
        self._commands = []
        self.audit.written()

    def _insert_chunk(self) -> None:
        starts = array("I", [0])
        for raw in self._raws[:-1]:
            starts.append(starts[-1] + len(raw))
        times = self._times
        self.db.execute(
            "INSERT INTO chunks (time_min, time_max, count, data, starts, erts, playback) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                min(times) if times else None,
                max(times) if times else None,
                len(self._raws),
                b"".join(self._raws),
                starts.tobytes(),
                self._erts.tobytes(),
                bytes(self._playback),
            ),
        )

    def command(
        self,
        sent: float,
        name: str,
        args: dict[str, Any],
        request_id: bytes,
        account: str | None = None,
    ) -> None:
        """Archive a command sent, and by whom (committed at the next flush)."""
        self._commands.append((sent, name, canonical_json(args), request_id, account))

    def packets(
        self,
        start: float | None = None,
        end: float | None = None,
        service: int | None = None,
        subtype: int | None = None,
    ) -> list[ArchivedPacket]:
        """Archived telemetry with on-board times in [start, end) (all packets, those without a
        time too, when neither is given), of one service and subtype if given, by on-board time
        then arrival."""
        self.flush()
        sql = "SELECT data, starts, erts, playback FROM chunks"
        params: list[float] = []
        bounded = start is not None or end is not None
        if bounded:
            sql += " WHERE time_max >= ? AND time_min < ?"
            params = [start if start is not None else -1e300, end if end is not None else 1e300]
        out = []
        for data, starts_blob, erts_blob, flags in self.db.execute(sql + " ORDER BY id", params):
            for packet in _unpack_chunk(data, starts_blob, erts_blob, flags):
                if service is not None and packet.service != service:
                    continue
                if subtype is not None and packet.subtype != subtype:
                    continue
                if bounded and (
                    packet.time is None
                    or (start is not None and packet.time < start)
                    or (end is not None and packet.time >= end)
                ):
                    continue
                out.append(packet)
        out.sort(key=lambda p: (p.time is None, p.time or 0.0, p.ert))
        return out

    def latest(self, service: int, subtype: int) -> ArchivedPacket | None:
        """The packet of this service and subtype that arrived last, or None (newest chunks
        first, so it costs the chunks since it came)."""
        self.flush()
        rows = self.db.execute("SELECT data, starts, erts, playback FROM chunks ORDER BY id DESC")
        for data, starts_blob, erts_blob, flags in rows:
            found = [
                p
                for p in _unpack_chunk(data, starts_blob, erts_blob, flags)
                if p.service == service and p.subtype == subtype
            ]
            if found:
                return found[-1]
        return None

    def commands(self) -> list[tuple[float, str, dict[str, Any], bytes, str | None]]:
        """Every command archived: when it was sent, its name, arguments, request id and the
        account that sent it."""
        self.flush()
        rows = self.db.execute(
            "SELECT sent, name, args, request_id, account FROM commands ORDER BY id"
        )
        return [(s, n, json.loads(a), bytes(r or b""), who) for s, n, a, r, who in rows]

    def count(self) -> int:
        self.flush()
        return self.db.execute("SELECT COALESCE(SUM(count), 0) FROM chunks").fetchone()[0]

    def close(self) -> None:
        self.flush()
        self.db.close()


def _unpack_chunk(data: bytes, starts_blob: bytes, erts_blob: bytes, flags: bytes) -> Iterator:
    starts = array("I")
    starts.frombytes(starts_blob)
    erts = array("d")
    erts.frombytes(erts_blob)
    bounds = [*starts, len(data)]
    for i in range(len(starts)):
        raw = bytes(data[bounds[i] : bounds[i + 1]])
        _, _, service, subtype, t = header_fields(raw)
        yield ArchivedPacket(erts[i], bool(flags[i]), raw, t, service, subtype)
