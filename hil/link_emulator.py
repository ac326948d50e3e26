"""An emulated space link for datagrams: rate, delay, loss, bit errors and outages, each way.

It stands between two UDP endpoints (a payload's optical terminal and a ground station, say):
endpoint A sends to the emulator's listening port, the emulator forwards to B from a port of its
own, and B's answers go back to whoever A was. Each direction serialises datagrams at the link
rate through a queue of bounded depth (tail drop when full), delays them, drops them at a set
probability, flips bits at a set bit error rate (the datagram still arrives: whatever checks the
far end makes must catch it) and drops everything during the outages, which count from the first
datagram. Used by bench/downlink.py and the downlink tests: ``python -m hil link ...``.
"""

from __future__ import annotations

import heapq
import math
import random
import select
import socket
import time
from dataclasses import dataclass, field

SOCKET_BUFFER = 16 << 20


@dataclass
class Impairments:
    rate_bps: float
    delay_s: float = 0.0
    loss: float = 0.0
    ber: float = 0.0
    queue_s: float = 0.5
    """The queue holds this many seconds of data at the link rate; more is dropped."""


@dataclass
class DirectionStats:
    datagrams: int = 0
    octets: int = 0
    delivered: int = 0
    dropped_loss: int = 0
    dropped_outage: int = 0
    dropped_queue: int = 0
    corrupted: int = 0
    bits_flipped: int = 0


@dataclass
class Direction:
    """One way through the link: a serialising queue, then the delay line."""

    imp: Impairments
    rng: random.Random
    stats: DirectionStats = field(default_factory=DirectionStats)
    free_at: float = 0.0
    bits_to_error: float = math.inf

    def __post_init__(self) -> None:
        self.bits_to_error = self._next_error_gap()

    def _next_error_gap(self) -> float:
        if self.imp.ber <= 0:
            return math.inf
        return math.floor(math.log(1.0 - self.rng.random()) / math.log(1.0 - self.imp.ber))

    def admit(self, data: bytes, now: float, outage: bool) -> tuple[float, bytes] | None:
        """When and what the far end receives, or None if the datagram is lost."""
        st = self.stats
        st.datagrams += 1
        st.octets += len(data)
        if outage:
            st.dropped_outage += 1
            return None
        start = max(now, self.free_at)
        if start - now > self.imp.queue_s:
            st.dropped_queue += 1
            return None
        self.free_at = start + len(data) * 8 / self.imp.rate_bps
        if self.imp.loss and self.rng.random() < self.imp.loss:
            st.dropped_loss += 1
            return None
        data = self._bit_errors(data)
        st.delivered += 1
        return self.free_at + self.imp.delay_s, data

    def _bit_errors(self, data: bytes) -> bytes:
        bits = len(data) * 8
        if self.bits_to_error >= bits:
            self.bits_to_error -= bits
            return data
        raw = bytearray(data)
        at = 0
        while self.bits_to_error < bits - at:
            at += int(self.bits_to_error)
            raw[at // 8] ^= 0x80 >> (at % 8)
            self.stats.bits_flipped += 1
            at += 1
            self.bits_to_error = self._next_error_gap()
        self.bits_to_error -= bits - at
        self.stats.corrupted += 1
        return bytes(raw)


def _socket(bind: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
    sock.bind(bind)
    sock.setblocking(False)
    return sock


class LinkEmulator:
    def __init__(
        self,
        listen: tuple[str, int],
        forward: tuple[str, int],
        a_to_b: Impairments,
        b_to_a: Impairments,
        outages: list[tuple[float, float]] = (),
        seed: int = 0,
    ) -> None:
        rng = random.Random(seed)
        self.sock_a = _socket(listen)
        self.sock_b = _socket((listen[0], 0))
        self.forward = forward
        self.peer_a: tuple[str, int] | None = None
        self.ab = Direction(a_to_b, random.Random(rng.random()))
        self.ba = Direction(b_to_a, random.Random(rng.random()))
        self.outages = sorted(outages)
        self.first: float | None = None
        self.line: list[tuple[float, int, bytes, bool]] = []
        self.count = 0

    @property
    def address(self) -> tuple[str, int]:
        return self.sock_a.getsockname()

    def in_outage(self, now: float) -> bool:
        if self.first is None:
            return False
        t = now - self.first
        return any(start <= t < start + length for start, length in self.outages)

    def _take(self, sock: socket.socket, direction: Direction, toward_b: bool, now: float) -> None:
        while True:
            try:
                data, sender = sock.recvfrom(65536)
            except (BlockingIOError, ConnectionRefusedError):
                return
            if toward_b:
                self.peer_a = sender
            if self.first is None:
                self.first = now
            out = direction.admit(data, now, self.in_outage(now))
            if out is not None:
                self.count += 1
                heapq.heappush(self.line, (out[0], self.count, out[1], toward_b))

    def _deliver(self, now: float) -> None:
        line = self.line
        while line and line[0][0] <= now:
            _, _, data, toward_b = heapq.heappop(line)
            try:
                if toward_b:
                    self.sock_b.sendto(data, self.forward)
                elif self.peer_a is not None:
                    self.sock_a.sendto(data, self.peer_a)
            except OSError:
                pass  # the far end is not listening (yet): the datagram is lost

    def run(self, until: float | None = None) -> None:
        """Relay until the monotonic time ``until`` (forever when None)."""
        socks = [self.sock_a, self.sock_b]
        while until is None or time.monotonic() < until:
            now = time.monotonic()
            wait = 0.05 if not self.line else max(0.0, self.line[0][0] - now)
            ready = select.select(socks, [], [], min(wait, 0.05))[0]
            now = time.monotonic()
            if self.sock_a in ready:
                self._take(self.sock_a, self.ab, True, now)
            if self.sock_b in ready:
                self._take(self.sock_b, self.ba, False, now)
            self._deliver(time.monotonic())

    def stats(self) -> dict:
        return {"a_to_b": self.ab.stats.__dict__, "b_to_a": self.ba.stats.__dict__}

    def close(self) -> None:
        self.sock_a.close()
        self.sock_b.close()
