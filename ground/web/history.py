"""Historical telemetry for Open MCT, read from the station's archive (ground/archive.py): the
archive is queried, never a second store. Times in and out are ms since 1970, UTC; the range is
on on-board time, as the page's time conductor gives it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from flight import dictionary as d
from ground.archive import Archive
from ground.web.packets import packet_json, plain

EVENT_SERVICE = 5
T = TypeVar("T")


class HistoryError(ValueError):
    """The query names no packet or field of the dictionary."""


class History:
    """Queries of one station's archive, each run on the one thread that holds the archive's
    connection (``await history.run(history.series, ...)``): the server serves on meanwhile."""

    def __init__(self, archive: Path) -> None:
        self.path = archive
        self._archive: Archive | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="history")

    @property
    def archive(self) -> Archive:
        if self._archive is None:  # opened on the history thread, used only there
            self._archive = Archive(self.path)
        return self._archive

    async def run(self, query: Callable[..., T], *args: Any) -> T:
        """A query, on the history thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, query, *args)

    def series(
        self, packet: str, field: str, start_ms: float, end_ms: float
    ) -> list[dict[str, Any]]:
        """One field's values in [start, end), by on-board time."""
        kind = d.TELEMETRY_BY_NAME.get(packet)
        if kind is None or all(f.name != field for f in kind.fields):
            raise HistoryError(f"no telemetry point {packet}.{field}")
        out = []
        rows = self.archive.packets(start_ms / 1000, end_ms / 1000, kind.service, kind.subtype)
        for row in rows:
            tm = row.decoded()
            if tm is None or tm.name != packet or field not in tm.values:
                continue
            out.append(
                {"t": row.time * 1000, "ert": row.ert * 1000, "value": plain(tm.values[field])}
            )
        return out

    def latest(self, packet: str) -> dict[str, Any] | None:
        """The newest packet of that name the archive holds, as the page takes packets."""
        kind = d.TELEMETRY_BY_NAME.get(packet)
        if kind is None:
            raise HistoryError(f"no telemetry packet {packet}")
        row = self.archive.latest(kind.service, kind.subtype)
        tm = row.decoded() if row is not None else None
        return packet_json(tm, row.ert) if tm is not None and row is not None else None

    def events(self, start_ms: float, end_ms: float) -> list[dict[str, Any]]:
        """The events in [start, end), by on-board time."""
        out = []
        for row in self.archive.packets(start_ms / 1000, end_ms / 1000, EVENT_SERVICE):
            tm = row.decoded()
            if tm is None or tm.event is None:
                continue
            p = packet_json(tm, row.ert)
            out.append({"t": p["t"], "ert": p["ert"], "name": p["name"], **p["event"]})
        return out
