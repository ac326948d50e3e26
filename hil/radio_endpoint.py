"""A spacecraft's radio on the space link with no bus behind it: the station's far end for
tools, benchmarks and tests that drive a ground station directly. It speaks the space link as
the bench's bus does (hil/space_link.py): it sends the CLCW as soon as the station connects,
takes every CLTU that comes up through FARM-1 into a queue of packets, and answers each read
with its frames down, the CLCW in them, as a spacecraft's downlink would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from flight.spacelink.profile import DEFAULT_SCID, VC_REALTIME, LinkProfile
from hil.space_link import SpacecraftLink

READ_SIZE = 1 << 16


class RadioEndpoint:
    """Listen with ``serve()``; ``uplinked`` holds what comes up, ``write_frames`` sends down."""

    def __init__(self, scid: int = DEFAULT_SCID) -> None:
        self.uplinked: asyncio.Queue[bytes] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self.link = SpacecraftLink(LinkProfile(scid))
        self.server: asyncio.base_events.Server | None = None

    async def serve(self) -> int:
        """Listen on loopback; the port."""
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.connected.set()
        writer.write(self.link.cadu(self.link.idle_frame()))
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(READ_SIZE):
                for frame in self.link.received(data):
                    for up in self.link.take(frame):
                        self.uplinked.put_nowait(up.packet)
                self.write_frames()

    def write_frames(self, packets: Iterable[bytes] = (), vc: int = VC_REALTIME) -> None:
        """Packets down in frames, the frames begun completed, the CLCW with them."""
        if self.writer is None:
            return
        frames = [f for p in packets for f in self.link.down(p, vc)]
        frames += [f for _, f in self.link.flush()] or [self.link.idle_frame()]
        self.writer.write(b"".join(self.link.cadu(f) for f in frames))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
