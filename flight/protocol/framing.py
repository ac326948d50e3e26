"""COBS framing of packets on a byte stream: one packet per frame, each frame ended by 0x00.

The same framing as OpenC3 COSMOS's COBS protocol and tmtccmd's SerialCobsComIF. The deframer
resynchronises at the next delimiter after any damage and never holds more than one frame's worth
of bytes, so no byte sequence can stall or exhaust the reader.
"""

from __future__ import annotations

import native
from flight.protocol.packets import MAX_PACKET_LEN

DELIMITER = 0x00
MAX_FRAME_LEN = MAX_PACKET_LEN + MAX_PACKET_LEN // 254 + 1  # COBS worst case, without delimiter


def frame(packet: bytes) -> bytes:
    """One packet as a COBS frame with its trailing delimiter."""
    return native.cobs_encode(packet) + b"\x00"


class Deframer:
    """Turns a byte stream into decoded frames, counting what it has to throw away."""

    def __init__(self, max_frame_len: int = MAX_FRAME_LEN) -> None:
        self.max_frame_len = max_frame_len
        self._pending = bytearray()
        self._discarding = False
        self.frames_ok = 0
        self.frames_bad = 0
        self.bytes_discarded = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes from the stream; return the payloads of the frames they complete."""
        out: list[bytes] = []
        start = 0
        while True:
            end = data.find(b"\x00", start)
            if end < 0:
                self._hold(data[start:])
                return out
            self._complete(data[start:end], out)
            start = end + 1

    def _hold(self, chunk: bytes) -> None:
        if self._discarding:
            self.bytes_discarded += len(chunk)
            return
        self._pending += chunk
        if len(self._pending) > self.max_frame_len:
            self.frames_bad += 1
            self.bytes_discarded += len(self._pending)
            self._pending.clear()
            self._discarding = True

    def _complete(self, chunk: bytes, out: list[bytes]) -> None:
        if self._discarding:
            self.bytes_discarded += len(chunk)
            self._discarding = False
            return
        if self._pending:
            self._pending += chunk
            body = bytes(self._pending)
            self._pending.clear()
        else:
            body = chunk
        if not body:
            return  # back-to-back delimiters: an idle fill, not an error
        if len(body) > self.max_frame_len:
            self.frames_bad += 1
            self.bytes_discarded += len(body)
            return
        try:
            out.append(native.cobs_decode(body))
        except ValueError:
            self.frames_bad += 1
            self.bytes_discarded += len(body)
            return
        self.frames_ok += 1
