"""The link adapter interface (docs/downlink.md): open, close, send and receive PDUs, rate, MTU,
up or down, and flow control. A CFDP entity drives any link through it alone. A link that sends
many PDUs to a system call may also take new file data a run at a time: ``run_room(stride)``, how
many PDUs of ``stride`` octets it takes at once now (0: none), and ``send_run(pdus, stride)``,
those PDUs back to back in one buffer (the last may be shorter)."""

from __future__ import annotations

import time
from typing import Protocol


class LinkAdapter(Protocol):
    name: str
    mtu: int
    """The largest PDU the link carries, in octets."""
    rate_bps: float | None
    """The link's rate in bits per second; None when the link sets no rate of its own."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    @property
    def up(self) -> bool:
        """Whether the link can carry PDUs now (a closed window is down)."""
        ...

    def ready(self) -> bool:
        """Flow control: whether send() would take a PDU now."""
        ...

    def send(self, pdu: bytes) -> None:
        """Queue one PDU; only when ready()."""
        ...

    def receive(self, timeout: float) -> list[bytes]:
        """The PDUs that arrived, waiting at most timeout seconds for the first."""
        ...


BURST_S = 0.002  # a paced sender sends at most this long's worth of octets back to back (a
# receiver's socket buffer of the system's default size holds fewer than a hundred 1 KiB PDUs)


class TokenBucket:
    """Paces octets to a rate (bits per second) with a burst of a few PDUs."""

    def __init__(self, rate_bps: float, burst: int, clock=time.monotonic) -> None:
        self.rate = rate_bps / 8.0
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def ready(self) -> bool:
        if self.tokens > 0:
            return True
        self._refill()
        return self.tokens > 0

    def take(self, octets: int) -> None:
        self.tokens -= octets

    def set_rate(self, rate_bps: float, burst: float) -> None:
        """Pace to a new rate from now on: what was earned until now at the old one stays."""
        self._refill()
        self.rate = rate_bps / 8.0
        self.burst = float(burst)
        self.tokens = min(self.tokens, self.burst)

    def wait(self, level: float = 0.0) -> float:
        """Seconds until the bucket holds more than ``level`` octets (0: until ready())."""
        self._refill()
        return 0.0 if self.tokens > level else (level - self.tokens) / self.rate + 1e-6
