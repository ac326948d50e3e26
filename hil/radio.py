"""The spacecraft's radio in bus time: the rate of the downlink, a delay and a loss probability
each way, between the bus emulator and the ground station.

Packets are queued with the bus second they reach the far end and handed over on the bus tick of
that second (so in lockstep a delay costs whole bus seconds, and every run of a seed is the same).
A queue holding more than ``queue_s`` of downlink drops what comes next.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RadioConfig:
    rate_bps: float | None = None
    """The downlink's rate; None: no limit of the radio's own."""
    delay_s: float = 0.0
    loss: float = 0.0
    queue_s: float = 30.0

    @property
    def immediate(self) -> bool:
        """Nothing to emulate: packets pass at once."""
        return self.rate_bps is None and self.delay_s == 0 and self.loss == 0


class RadioPath:
    """One direction through the radio."""

    def __init__(self, config: RadioConfig, rate_bps: float | None, rng: random.Random) -> None:
        self.config = config
        self.rate_bps = rate_bps
        self.rng = rng
        self.free_at = 0.0
        self.queue: list[tuple[float, int, bytes]] = []
        self.count = 0
        self.lost = 0
        self.dropped_queue = 0

    def admit(self, data: bytes, now: float) -> bool:
        """A packet (or frame) handed to the radio at bus time ``now``; whether it will reach
        the far end (False: lost, or its queue was full)."""
        if self.config.loss and self.rng.random() < self.config.loss:
            self.lost += 1
            return False
        start = max(now, self.free_at)
        if start - now > self.config.queue_s:
            self.dropped_queue += 1
            return False
        if self.rate_bps is not None:
            self.free_at = start + len(data) * 8 / self.rate_bps
            start = self.free_at
        self.count += 1
        heapq.heappush(self.queue, (start + self.config.delay_s, self.count, data))
        return True

    def due(self, now: float) -> list[bytes]:
        """What reaches the far end by bus time ``now``, in order."""
        out = []
        while self.queue and self.queue[0][0] <= now:
            out.append(heapq.heappop(self.queue)[2])
        return out
