"""The rate at which an entity sends file data to one remote entity, set by what its NAKs say.

A receiver NAKs every gap it sees. A bit error or a datagram lost on the link leaves a gap of a
segment here and there; a queue that overflows (the receiver's socket buffer, a router's, a
terminal's) drops a run of consecutive datagrams. A NAK that asks, for the first time, for a run
of at least ``burst_segments`` segments of data sent since the last decrease is taken for
congestion (the sending transaction keeps that mark, as TCP NewReno keeps its recovery point):
the rate falls to ``BETA`` of what got through in the last round trip (what was sent, less the
share of the data the NAK spans that it says was lost), as TCP's multiplicative decrease, but
to no less than a quarter of what was sent, nor a few segments a round trip. Each round trip
without congestion raises it by ``GROWTH`` (capped by nothing: the link paces, if it does).
Until the first congestion there is no limit. Retransmissions go at the same rate.

Kept per remote entity, shared by every transaction to it, and used where the MIB asks for it
(``EntityConfig.adapt_rate``: ``cfdp send --adapt``; on board the bus grants the share).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from flight.links.base import BURST_S, TokenBucket

BETA = 0.7
GROWTH = 1.1
BURST_OCTETS = 65536.0  # the most paced out back to back: BURST_S of the rate, or one PDU of the
# largest segment, whichever is more
DEFAULT_RTT = 0.1  # until a round trip is measured
MIN_RATE = 1000.0  # octets per second: a floor, so that a transfer always moves
DROP_MOST = 0.25  # the most one decrease takes off: to a quarter


class SendRate:
    """The pacing of file data toward one remote entity, on the entity's clock."""

    def __init__(self, clock: Callable[[], float], burst_segments: int = 4) -> None:
        self.clock = clock
        self.burst_segments = burst_segments
        self.bucket: TokenBucket | None = None  # none until the first congestion: no limit
        self.changed_at = 0.0
        self.decreases = 0
        self._sent: deque[tuple[float, int]] = deque()  # (time, octets sent in all) samples
        self._total = 0

    @property
    def rate(self) -> float | None:
        """Octets per second; None: no limit."""
        return None if self.bucket is None else self.bucket.rate

    def allows(self) -> bool:
        """Whether file data may go now."""
        return self.bucket is None or self.bucket.ready()

    def allowance(self) -> float | None:
        """The octets the pace lets go back to back now, a burst at most (None: no limit)."""
        return None if self.bucket is None else self.bucket.tokens

    def wait(self) -> float:
        """Seconds until ``allows`` holds."""
        return 0.0 if self.bucket is None else self.bucket.wait()

    def _pace(self, rate: float) -> None:
        burst = max(rate * BURST_S, BURST_OCTETS)
        if self.bucket is None:
            self.bucket = TokenBucket(rate * 8, burst, self.clock)
        else:
            self.bucket.set_rate(rate * 8, burst)

    def sent(self, octets: int, now: float, rtt: float | None) -> None:
        """File data of ``octets`` went; each round trip without congestion raises the rate."""
        self._total += octets
        samples = self._sent
        if samples and samples[-1][0] == now:  # many PDUs go at one instant: one sample
            samples[-1] = (now, self._total)
        else:
            samples.append((now, self._total))
            window = 2 * (rtt or DEFAULT_RTT)
            while len(samples) > 2 and samples[1][0] < now - window:
                samples.popleft()
        if self.bucket is not None:
            self.bucket.take(octets)
            if now >= self.changed_at + (rtt or DEFAULT_RTT):
                self._pace(self.bucket.rate * GROWTH)
                self.changed_at = now

    def nak(
        self, gaps: list[tuple[int, int]], span: int, segment: int, now: float, rtt: float | None
    ) -> bool:
        """Gaps a NAK asks for, each seen for the first time and of data sent since the last
        decrease, among ``span`` octets of data it is the first to speak of; True when they show
        congestion and the rate fell."""
        if not any(end - start >= self.burst_segments * segment for start, end in gaps):
            return False
        rtt = rtt or DEFAULT_RTT
        lost = sum(end - start for start, end in gaps)
        through = 1.0 - lost / span if span > lost else 0.0
        sending = self._measured(now, rtt)
        current = sending if self.rate is None else min(self.rate, sending)
        # A quarter at most a time (a receiver that stalls for a moment drops a long run, and
        # is not a link a hundredth as fast), never below a few segments a round trip.
        floor = max(MIN_RATE, self.burst_segments * segment / rtt)
        self._pace(max(floor, DROP_MOST * current, BETA * current * through))
        self.bucket.tokens = min(self.bucket.tokens, 0.0)  # no burst at the new rate at once
        self.changed_at = now
        self.decreases += 1
        return True

    def _measured(self, now: float, rtt: float) -> float:
        """Octets per second sent over about the last round trip."""
        first_time, first_total = self._sent[0] if self._sent else (now, self._total)
        for at, total in self._sent:
            if at >= now - rtt:
                break
            first_time, first_total = at, total
        span = now - first_time
        return (self._total - first_total) / span if span > 0 else MIN_RATE
