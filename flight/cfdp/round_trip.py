"""Round trips measured to a remote entity, and the timers they set.

Each entity keeps one estimate per remote entity, shared by every transaction with it, the way
TCP sets its retransmission timer (RFC 6298): a smoothed round trip and its variation, sampled
from exchanges whose answer cannot be mistaken (an EOF or a Finished sent once and acknowledged;
a NAK and the first retransmission it brought), never across a link outage. An acknowledgement
timer is then the smoothed round trip plus four variations, never shorter than the configured
ACK timer and never longer than its ceiling. A timer that expires doubles the next ones until a
round trip is measured (Karn's algorithm: the answer to a repeated directive measures nothing,
so without the doubling a round trip longer than the timer would never be learnt). A link whose
round trip is longer than the configured timer (a radio's delay, a slow serial line, a bench
running faster than real time) stops repeating EOFs and Finisheds that were on their way to
being acknowledged.
"""

from __future__ import annotations


class RoundTrip:
    """A smoothed round-trip time and its variation (each sample weighs 1/8 and 1/4)."""

    def __init__(self) -> None:
        self.value: float | None = None
        self.variation = 0.0
        self.samples = 0
        self.backoff = 1.0
        self._backed_off_at: float | None = None

    def sample(self, seconds: float) -> None:
        """One measured round trip."""
        seconds = max(0.0, seconds)
        self.samples += 1
        self.backoff, self._backed_off_at = 1.0, None
        if self.value is None:
            self.value, self.variation = seconds, seconds / 2
            return
        self.variation = 0.75 * self.variation + 0.25 * abs(self.value - seconds)
        self.value = 0.875 * self.value + 0.125 * seconds

    def expired(self, now: float, floor: float, ceiling: float) -> None:
        """An acknowledgement timer ran out: the next timers are twice as long, until a round
        trip is measured (once per timer's length, however many transactions' timers ran out
        together)."""
        if self._backed_off_at is None or now >= self._backed_off_at + self.timeout(floor, ceiling):
            self.backoff = min(self.backoff * 2, ceiling / floor)
            self._backed_off_at = now

    def timeout(self, floor: float, ceiling: float) -> float:
        """How long to wait for an acknowledgement: ``floor`` until a round trip is known."""
        base = floor if self.value is None else max(floor, self.value + 4 * self.variation)
        return min(ceiling, base * self.backoff)
