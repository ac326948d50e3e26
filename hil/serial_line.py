"""The emulated serial line between the bus and the payload: pacing at the 8N1 line rate, and
injected faults, in both directions.

A pty passes a megabyte in milliseconds whatever its "baud rate", so the bench paces bytes itself
with a token bucket (10 line bits per byte), in bus time: at real time xN the line carries N times
its rate per wall second, so that every bus second carries what a bus second of the real line
does (a scenario's downlink share fits its line at any speed, as in lockstep). The payload's
output is read at the line rate, so the pty's buffer plays the payload UART's transmit buffer,
and it is drained during an outage as a real UART would be, the bytes lost. Faults come from a
seeded generator: the same seed gives the same faults.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
MAX_BURST_S = 0.002  # unused line time that may be caught up at once
ONE_SHOT_FAULTS = ("flip", "drop", "insert", "burst", "delimiter")


@dataclass
class Direction:
    """One way of the line: its faults and its counts."""

    name: str
    rng: np.random.Generator
    ber: float = 0.0
    bytes_in: int = 0
    bytes_lost: int = 0  # in an outage
    bits_flipped: int = 0
    bytes_dropped: int = 0
    bytes_inserted: int = 0
    faults_injected: int = 0
    _bits_to_error: int = 0
    _pending: list[tuple[str, int]] = field(default_factory=list)

    def set_ber(self, ber: float) -> None:
        """Random bit errors at this bit error rate from now on (0 stops them)."""
        self.ber = ber
        self._bits_to_error = self._gap()

    def _gap(self) -> int:
        return int(self.rng.geometric(self.ber)) if self.ber > 0 else 0

    def inject(self, kind: str, count: int = 1) -> None:
        """A one-shot fault on the next bytes to pass: flip (one bit of one byte), drop or
        insert ``count`` bytes, burst (``count`` bytes overwritten), delimiter (a byte turned
        into 0x00)."""
        if kind not in ONE_SHOT_FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {ONE_SHOT_FAULTS}")
        self._pending.append((kind, count))

    def apply(self, data: bytes) -> bytes:
        """The bytes as they arrive at the far end."""
        self.bytes_in += len(data)
        if not data or (not self.ber and not self._pending):
            return data
        buf = bytearray(data)
        if self.ber:
            bit = self._bits_to_error - 1
            while bit < len(buf) * 8:
                buf[bit // 8] ^= 1 << (bit % 8)
                self.bits_flipped += 1
                bit += self._gap()
            self._bits_to_error = bit - len(buf) * 8 + 1
        while self._pending and buf:
            kind, count = self._pending.pop(0)
            self.faults_injected += 1
            at = int(self.rng.integers(0, len(buf)))
            if kind == "flip":
                buf[at] ^= 1 << int(self.rng.integers(0, 8))
                self.bits_flipped += 1
            elif kind == "drop":
                del buf[at : at + count]
                self.bytes_dropped += min(count, len(data) - at)
            elif kind == "insert":
                buf[at:at] = self.rng.integers(0, 256, count, dtype=np.uint8).tobytes()
                self.bytes_inserted += count
            elif kind == "burst":
                end = min(len(buf), at + count)
                buf[at:end] = self.rng.integers(0, 256, end - at, dtype=np.uint8).tobytes()
            else:
                buf[at] = 0
        return bytes(buf)


class SerialLine:
    """The bus's end of the line to the payload: a file descriptor (the pty master, or a real
    serial port), paced at ``baud`` per bus second with ``speed`` bus seconds to the wall second
    (baud None: unpaced), with faults."""

    def __init__(
        self,
        fd: int,
        receive: Callable[[bytes], None],
        *,
        baud: int | None,
        seed: int,
        speed: float = 1.0,
    ) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self.receive = receive
        self.baud = baud
        self.speed = speed
        self.rate = baud / BITS_PER_BYTE * speed if baud else None  # bytes per wall second
        up, down = np.random.default_rng(seed).spawn(2)
        self.up = Direction("to payload", up)
        self.down = Direction("from payload", down)
        self.outage = False
        self._queue = bytearray()
        self._credit_up = 0.0
        self._credit_down = 0.0
        self._stamp_up = self._stamp_down = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._reading = False

    def start(self) -> None:
        """Begin serving the line (in the running event loop)."""
        self._loop = asyncio.get_running_loop()
        self._stamp_up = self._stamp_down = self._loop.time()
        self._resume_reading()

    def stop(self) -> None:
        """Stop serving the line."""
        if self._loop is None:
            return
        self._loop.remove_reader(self.fd)
        self._loop.remove_writer(self.fd)
        for timer in self._timers:
            timer.cancel()
        self._reading = False

    # --- to the payload
    def write(self, data: bytes) -> None:
        """Send bytes to the payload (faults applied; lost in an outage)."""
        data = self.up.apply(data)
        if self.outage:
            self.up.bytes_lost += len(data)
            return
        self._queue += data
        self._flush()

    def _flush(self) -> None:
        assert self._loop is not None
        self._loop.remove_writer(self.fd)
        if not self._queue:
            return
        allowed = len(self._queue)
        if self.rate is not None:
            now = self._loop.time()
            self._credit_up = min(
                self._credit_up + (now - self._stamp_up) * self.rate,
                max(1.0, self.rate * MAX_BURST_S),
            )
            self._stamp_up = now
            allowed = min(allowed, int(self._credit_up))
            if allowed == 0:
                self._later((1.0 - self._credit_up) / self.rate, self._flush)
                return
        try:
            written = os.write(self.fd, self._queue[:allowed])
        except BlockingIOError:
            written = 0
        del self._queue[:written]
        if self.rate is not None:
            self._credit_up -= written
        if self._queue:
            if written < allowed:
                self._loop.add_writer(self.fd, self._flush)
            else:
                self._later(max(0.0005, 1.0 / self.rate) if self.rate else 0, self._flush)

    # --- from the payload
    def _resume_reading(self) -> None:
        assert self._loop is not None
        if not self._reading:
            self._loop.add_reader(self.fd, self._readable)
            self._reading = True

    def _readable(self) -> None:
        assert self._loop is not None
        size = 65536
        if self.rate is not None:
            now = self._loop.time()
            self._credit_down = min(
                self._credit_down + (now - self._stamp_down) * self.rate,
                max(1.0, self.rate * MAX_BURST_S),
            )
            self._stamp_down = now
            size = int(self._credit_down)
            if size == 0:  # wait for the line: the rest stays in the payload's buffer
                self._loop.remove_reader(self.fd)
                self._reading = False
                self._later((1.0 - self._credit_down) / self.rate, self._resume_reading)
                return
        try:
            data = os.read(self.fd, size)
        except BlockingIOError:
            return
        except OSError:  # the payload's end closed
            self._loop.remove_reader(self.fd)
            self._reading = False
            return
        if self.rate is not None:
            self._credit_down -= len(data)
        data = self.down.apply(data)
        if self.outage:
            self.down.bytes_lost += len(data)
            return
        self.receive(data)

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        assert self._loop is not None
        self._timers = [t for t in self._timers if not t.cancelled()]
        self._timers.append(self._loop.call_later(delay, callback))

    def figures(self) -> dict[str, int | float | None]:
        """Counts of the line, for the report."""
        out: dict[str, int | float | None] = {
            "baud": self.baud,
            "wall_bytes_per_s": round(self.rate) if self.rate else None,
        }
        for key, d in (("up", self.up), ("down", self.down)):
            out |= {
                f"{key}_bytes": d.bytes_in,
                f"{key}_bytes_lost_outage": d.bytes_lost,
                f"{key}_bits_flipped": d.bits_flipped,
                f"{key}_bytes_dropped": d.bytes_dropped,
                f"{key}_bytes_inserted": d.bytes_inserted,
                f"{key}_faults_injected": d.faults_injected,
            }
        return out
