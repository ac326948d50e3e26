"""Historical telemetry for Open MCT, read from the station's archive (ground/archive/): the
archive is queried, never a second store. Times in and out are ms since 1970, UTC; the range is
on on-board time, as the page's time conductor gives it.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import native
from flight import dictionary as d
from flight.protocol.fields import FieldError, fixed_layout
from flight.protocol.messages import decode_telemetry
from flight.protocol.packets import PacketError, parse_packet
from ground.archive import TM_MIN, Archive
from ground.audit import audit_rows
from ground.web.packets import packet_json, plain

EVENT_SERVICE = 5
CRC_LEN = 2
T = TypeVar("T")


_UNREADABLE = object()  # a packet the field cannot be read from: left out, as a decoder would


def _field_reader(where: tuple[int, str], flag: tuple[int, str] | None) -> Callable[[bytes], Any]:
    """Reads one fixed-size field (None where its validity flag is 0) from a packet whose CRC
    holds."""
    offset, fmt = where
    end = TM_MIN + offset + struct.calcsize(fmt) + CRC_LEN

    def read(raw: bytes) -> Any:
        if len(raw) < end or native.crc16(raw) != 0:
            return _UNREADABLE
        if flag is not None and raw[TM_MIN + flag[0]] == 0:
            return None
        value = struct.unpack_from(fmt, raw, TM_MIN + offset)[0]
        return _UNREADABLE if isinstance(value, float) and not math.isfinite(value) else value

    return read


def _decoder(packet: str, field: str) -> Callable[[bytes], Any]:
    """Reads one field by decoding the whole packet."""

    def read(raw: bytes) -> Any:
        try:
            tm = decode_telemetry(parse_packet(raw))
        except (PacketError, FieldError):
            return _UNREADABLE
        if tm.name != packet or field not in tm.values:
            return _UNREADABLE
        return plain(tm.values[field])

    return read


class HistoryError(ValueError):
    """The query names no packet or field of the dictionary."""


class History:
    """Queries of one station's archive, each run on the one thread that holds the archive's
    connection (``await history.run(history.series, ...)``): the server serves on meanwhile."""

    def __init__(self, archive: str | Path, spacecraft: int | None = None) -> None:
        self.spec = archive  # a SQLite file or a postgresql:// URL
        self.spacecraft = spacecraft  # its rows only, where the server is for one spacecraft
        self._archive: Archive | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="history")

    @property
    def archive(self) -> Archive:
        if self._archive is None:  # opened on the history thread, used only there
            self._archive = Archive(self.spec, create=False)
        return self._archive

    async def run(self, query: Callable[..., T], *args: Any) -> T:
        """A query, on the history thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, query, *args)

    def series(
        self, packet: str, field: str, start_ms: float, end_ms: float
    ) -> dict[str, list[Any]]:
        """One field's values in [start, end), by on-board time, as columns: "t" (on-board time,
        ms), "ert" (ground receipt time, ms), "value" (compact for 86 400 points a day). A field
        in the packet's leading
        run of fixed-size fields (every housekeeping field) is read straight from each packet
        whose CRC holds, without decoding the rest; any other is decoded whole."""
        kind = d.TELEMETRY_BY_NAME.get(packet)
        target = next((f for f in kind.fields if f.name == field), None) if kind else None
        if kind is None or target is None:
            raise HistoryError(f"no telemetry point {packet}.{field}")
        rows = self.archive.packets(
            start_ms / 1000, end_ms / 1000, spacecraft=self.spacecraft, name=kind.name
        )
        layout = fixed_layout(kind.fields)
        if field in layout and (target.valid_when is None or target.valid_when in layout):
            flag = layout.get(target.valid_when) if target.valid_when else None
            read = _field_reader(layout[field], flag)
        else:
            read = _decoder(packet, field)
        times: list[float] = []
        erts: list[int] = []
        values: list[Any] = []
        for row in rows:
            value = read(row.raw)
            if value is not _UNREADABLE:
                times.append(row.time * 1000)
                erts.append(round(row.ert * 1000))
                values.append(value)
        return {"t": times, "ert": erts, "value": values}

    def envelope(
        self, packet: str, field: str, start_ms: float, end_ms: float, buckets: int
    ) -> dict[str, list[Any]]:
        """The series as Open MCT's plots ask for it (strategy "minmax", size N): the span cut
        into N buckets of time, and of each the point with the least and the one with the
        greatest value, in time order, so that the plot's envelope is every point's."""
        columns = self.series(packet, field, start_ms, end_ms)
        width = (end_ms - start_ms) / buckets if end_ms > start_ms else 1.0
        keep: dict[int, tuple[int, int]] = {}  # bucket -> (index of min, index of max)
        values = columns["value"]
        for i, (t, v) in enumerate(zip(columns["t"], values, strict=True)):
            if not isinstance(v, (int, float)):
                continue
            b = int((t - start_ms) // width)
            low, high = keep.get(b, (i, i))
            keep[b] = (i if v < values[low] else low, i if v > values[high] else high)
        chosen = sorted({i for pair in keep.values() for i in pair})
        return {key: [column[i] for i in chosen] for key, column in columns.items()}

    def latest(self, packet: str) -> dict[str, Any] | None:
        """The newest packet of that name the archive holds, as the page takes packets."""
        kind = d.TELEMETRY_BY_NAME.get(packet)
        if kind is None:
            raise HistoryError(f"no telemetry packet {packet}")
        row = self.archive.latest(kind.service, kind.subtype, self.spacecraft)
        tm = row.decoded() if row is not None else None
        return packet_json(tm, row.ert) if tm is not None and row is not None else None

    def raw(self, packet: str) -> dict[str, Any] | None:
        """The newest packet of that name, raw: its octets in hex, the CCSDS primary and PUS-C
        secondary header fields with the octets each spans, and its data fields decoded."""
        kind = d.TELEMETRY_BY_NAME.get(packet)
        if kind is None:
            raise HistoryError(f"no telemetry packet {packet}")
        row = self.archive.latest(kind.service, kind.subtype, self.spacecraft)
        tm = row.decoded() if row is not None else None
        if row is None or tm is None:
            return None
        raw = row.raw
        words = int.from_bytes(raw[0:2], "big"), int.from_bytes(raw[2:4], "big")
        header = [
            ("version", "0", words[0] >> 13),
            ("type (0: telemetry)", "0", (words[0] >> 12) & 1),
            ("secondary header flag", "0", (words[0] >> 11) & 1),
            ("APID", "0-1", words[0] & 0x7FF),
            ("sequence flags", "2", words[1] >> 14),
            ("sequence count", "2-3", words[1] & 0x3FFF),
            ("data length - 1", "4-5", int.from_bytes(raw[4:6], "big")),
            ("PUS version, time reference", "6", raw[6]),
            ("service", "7", raw[7]),
            ("subtype", "8", raw[8]),
            ("message counter", "9-10", int.from_bytes(raw[9:11], "big")),
            ("destination", "11-12", int.from_bytes(raw[11:13], "big")),
            ("time: seconds, fraction (CUC 4+2)", "13-18", f"{row.time:.6f}"),
            ("packet error control (CRC-16)", f"{len(raw) - 2}-{len(raw) - 1}", raw[-2:].hex()),
        ]
        return {
            "name": tm.name,
            "hex": raw.hex(),
            "header": [{"field": f, "octets": o, "value": plain(v)} for f, o, v in header],
            "fields": [{"field": k, "value": plain(v)} for k, v in tm.labelled().items()],
            "t": row.time * 1000 if row.time is not None else None,
            "ert": row.ert * 1000,
        }

    def interval(self, start_ms: float, end_ms: float, limit: int) -> list[dict[str, Any]]:
        """Every packet of [start, end) that decodes, as the page takes packets, by on-board
        time; at most ``limit`` (the first)."""
        out = []
        for row in self.archive.packets(start_ms / 1000, end_ms / 1000, spacecraft=self.spacecraft):
            tm = row.decoded()
            if tm is not None:
                out.append(packet_json(tm, row.ert))
                if len(out) >= limit:
                    break
        return out

    def commands(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` commands the station sent, oldest first, each with the account that
        sent it and the verification stages the audit trail holds for it."""
        sent = self.archive.commands(self.spacecraft)[-limit:]
        stages: dict[str, list[str]] = {}
        for row in audit_rows(self.archive.db, "verification"):
            stages.setdefault(str(row.detail.get("request_id")), []).append(row.outcome)
        return [
            {
                "sent": c.sent * 1000,
                "name": c.name,
                "args": c.args,
                "request_id": c.request_id.hex(),
                "account": c.account,
                "stages": stages.get(c.request_id.hex(), []),
            }
            for c in sent
        ]

    def events(self, start_ms: float, end_ms: float) -> list[dict[str, Any]]:
        """The events in [start, end), by on-board time."""
        out = []
        for row in self.archive.packets(
            start_ms / 1000, end_ms / 1000, spacecraft=self.spacecraft, service=EVENT_SERVICE
        ):
            tm = row.decoded()
            if tm is None or tm.event is None:
                continue
            p = packet_json(tm, row.ert)
            out.append({"t": p["t"], "ert": p["ert"], "name": p["name"], **p["event"]})
        return out
