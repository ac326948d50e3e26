"""Telemetry packets as the archive stores them: in chunks of up to CHUNK packets of one
spacecraft and one kind (a telemetry packet's or an event's name), one row each holding their
octets back to back, where each starts, when each arrived, whether it was played back, and the
ranges of on-board and arrival times the chunk covers (what queries select on). One row per
chunk rather than per packet is what makes ingest fast; a packet's meaning is decoded when it is
read back, with the dictionary of the day."""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flight import dictionary as d
from flight.protocol.fields import FieldError
from flight.protocol.messages import DecodedTelemetry, decode_telemetry
from flight.protocol.packets import PacketError, parse_packet

CHUNK = 1024
CHUNK_COLUMNS = ("scid", "name", "service", "subtype", "time_min", "time_max", "ert_min",
                 "ert_max", "count", "data", "starts", "erts", "playback")  # fmt: skip
_HEADER = struct.Struct(">HHH")
# PUS-C TM secondary header after the 6-octet primary header: version/time-ref, service,
# subtype, message counter (2), destination (2), then CUC time: 4 octets of seconds, 2 of fraction.
_TM_KIND = struct.Struct(">xBB4xIH")
TM_MIN = 6 + _TM_KIND.size
_EVENT_ID = struct.Struct(">H")
_TM_TIME = struct.Struct(">IH")
_TM_TIME_AT = TM_MIN - _TM_TIME.size
_NAMES = {(t.service, t.subtype): t.name for t in d.TELEMETRY}
_EVENT_NAMES = {e.event_id: e.name for e in d.EVENTS}

Kind = tuple[str | None, int | None, int | None]  # name, service, subtype


@dataclass(frozen=True)
class ArchivedPacket:
    scid: int
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


def kind_of(raw: bytes) -> tuple[Kind, float | None]:
    """A packet's kind (its name in this dictionary, None if it has none there, and its
    service and subtype) and its on-board time; Nones for what is not a PUS TM packet."""
    if len(raw) < TM_MIN or raw[0] & 0x10:
        return (None, None, None), None
    service, subtype, coarse, fine = _TM_KIND.unpack_from(raw, 6)
    if service == 5:
        known = len(raw) >= TM_MIN + _EVENT_ID.size
        name = _EVENT_NAMES.get(_EVENT_ID.unpack_from(raw, TM_MIN)[0]) if known else None
    else:
        name = _NAMES.get((service, subtype))
    return (name, service, subtype), coarse + fine / 65536


@dataclass
class _Chunk:
    raws: list[bytes] = field(default_factory=list)
    erts: array = field(default_factory=lambda: array("d"))
    playback: bytearray = field(default_factory=bytearray)


class ChunkBuilder:
    """Packets gathered into chunks by spacecraft and kind, until ``rows`` takes them. A
    packet's kind is told apart by the octets that carry it (service, subtype and, of an event,
    its id), so that holding a packet costs little; names and times are read once a chunk is
    written."""

    def __init__(self) -> None:
        self._chunks: dict[tuple[int, bytes], _Chunk] = {}
        self.held = 0

    def add(self, scid: int, raw: bytes, ert: float, playback: bool) -> None:
        if len(raw) < TM_MIN or raw[0] & 0x10:
            key = b""  # not a PUS TM packet
        elif raw[7] == 5:
            key = raw[7:9] + raw[TM_MIN : TM_MIN + _EVENT_ID.size]
        else:
            key = raw[7:9]
        chunk = self._chunks.get((scid, key))
        if chunk is None:
            chunk = self._chunks[(scid, key)] = _Chunk()
        chunk.raws.append(raw)
        chunk.erts.append(ert)
        chunk.playback.append(playback)
        self.held += 1

    def rows(self) -> list[tuple[Any, ...]]:
        """Every chunk held, as rows of CHUNK_COLUMNS, CHUNK packets at most to a row (what was
        held is still held until ``clear``)."""
        out = []
        for (scid, key), chunk in self._chunks.items():
            (name, service, subtype), _ = kind_of(chunk.raws[0])
            for first in range(0, len(chunk.raws), CHUNK):
                raws = chunk.raws[first : first + CHUNK]
                erts = chunk.erts[first : first + CHUNK]
                times = [_on_board_time(raw) for raw in raws] if key else []
                starts = array("I", [0])
                for raw in raws[:-1]:
                    starts.append(starts[-1] + len(raw))
                out.append((
                    scid, name, service, subtype,
                    min(times) if times else None, max(times) if times else None,
                    min(erts), max(erts), len(raws), b"".join(raws), starts.tobytes(),
                    erts.tobytes(), bytes(chunk.playback[first : first + CHUNK]),
                ))  # fmt: skip
        return out

    def clear(self) -> None:
        self._chunks = {}
        self.held = 0


def _on_board_time(raw: bytes) -> float:
    coarse, fine = _TM_TIME.unpack_from(raw, _TM_TIME_AT)
    return coarse + fine / 65536


def unpack_chunk(
    scid: int, data: bytes, starts_blob: bytes, erts_blob: bytes, flags: bytes
) -> Iterator[ArchivedPacket]:
    """The packets of one chunk row, in the order they arrived."""
    starts = array("I")
    starts.frombytes(starts_blob)
    erts = array("d")
    erts.frombytes(erts_blob)
    bounds = [*starts, len(data)]
    for i in range(len(starts)):
        raw = bytes(data[bounds[i] : bounds[i + 1]])
        _, _, service, subtype, t = header_fields(raw)
        yield ArchivedPacket(scid, erts[i], bool(flags[i]), raw, t, service, subtype)
