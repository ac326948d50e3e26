"""COBS framing of packets on a byte stream: one packet per frame, each frame ended by 0x00.

The same framing as OpenC3 COSMOS's COBS protocol and tmtccmd's SerialCobsComIF. The deframer
resynchronises at the next delimiter after any damage and never holds more than one frame's worth
of bytes, so no byte sequence can stall or exhaust the reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import native
from flight.protocol.packets import MAX_PACKET_LEN

MAX_FRAME_LEN = MAX_PACKET_LEN + MAX_PACKET_LEN // 254 + 1  # COBS worst case, without delimiter


def frame(packet: bytes) -> bytes:
    """One packet as a COBS frame with its trailing delimiter."""
    return native.cobs_encode(packet) + b"\x00"


class Deframer:
    """Turns a byte stream into decoded frames, counting the frames it has to throw away."""

    def __init__(self, max_frame_len: int = MAX_FRAME_LEN) -> None:
        self.max_frame_len = max_frame_len
        self._pending = b""
        self._discarding = False
        self.frames_bad = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes from the stream; return the payloads of the frames they complete."""
        if self._discarding:
            end = data.find(b"\x00")
            if end < 0:
                return []
            self._discarding = False
            data = data[end + 1 :]
        if self._pending:
            data = self._pending + data
        frames, self._pending, bad = native.cobs_split(data, self.max_frame_len)
        self.frames_bad += bad
        if len(self._pending) > self.max_frame_len:
            self.frames_bad += 1
            self._pending = b""
            self._discarding = True
        return frames


async def read_frames(reader: asyncio.StreamReader, deframer: Deframer) -> AsyncIterator[bytes]:
    """The frames of a stream, as they arrive, until it closes."""
    while True:
        data = await reader.read(65536)
        if not data:
            return
        for payload in deframer.feed(data):
            yield payload
