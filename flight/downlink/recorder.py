"""Telemetry stored on board: every packet the controller sends is also written to a recording,
events apart from the rest, and each recording is closed and handed to the downlink when a link
window opens (what went out live may not have reached the ground)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

EVENT_SERVICE = 5
PRIORITY_EVENTS = 300
PRIORITY_HOUSEKEEPING = 400


class TelemetryRecorder:
    """Telemetry packets stored on board: events in one file, everything else in another, each
    closed and handed over when a window opens. A recording left by a crash is closed at start."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.files = {kind: directory / f"recording.{kind}" for kind in ("events", "hk")}
        self.packets = 0
        self.errors = 0
        self._handles: dict[str, Any] = {}
        self._names = {p.name for p in directory.iterdir()}  # taken: a new one is looked up here
        self._next: dict[int, int] = {}  # per stamp, where the look-up for a free name starts

    def record(self, service: int, packet: bytes) -> None:
        """Append a packet; one that cannot be written whole (disk full) is counted in
        ``errors`` and leaves no torn packet behind."""
        kind = "events" if service == EVENT_SERVICE else "hk"
        try:
            handle = self._handles.get(kind)
            if handle is None:
                handle = self._handles[kind] = self.files[kind].open("ab", buffering=0)
            size = handle.tell()
            try:
                if handle.write(packet) != len(packet):
                    raise OSError(f"short write to {self.files[kind]}")
            except OSError:
                handle.truncate(size)
                handle.seek(size)  # truncate leaves the position past the end
                raise
        except OSError:
            self.errors += 1
            return
        self.packets += 1

    def close(self, stamp: int) -> list[tuple[Path, int]]:
        """The recordings closed under their final names, with their priorities."""
        for handle in self._handles.values():
            with contextlib.suppress(OSError):
                os.fsync(handle.fileno())
            handle.close()
        self._handles.clear()
        out = []
        for kind, priority in (("events", PRIORITY_EVENTS), ("hk", PRIORITY_HOUSEKEEPING)):
            path = self.files[kind]
            if path.exists() and path.stat().st_size:
                name, n = f"stored-{stamp}.{kind}.tm", self._next.get(stamp, 1)
                while name in self._names:
                    name, n = f"stored-{stamp}-{n}.{kind}.tm", n + 1
                self._next[stamp] = n
                self._names.add(name)
                os.replace(path, self.directory / name)
                out.append((self.directory / name, priority))
        self.packets = 0
        return out

    def close_handles(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()
