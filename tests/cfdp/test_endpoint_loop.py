"""The stand-alone endpoints' loop (flight/cfdp/endpoint.py ``drive``) on a paced link, in bench
time: a clock that moves on at every reading, as the loop's own work takes time, and waits that
pass at once on it."""

from __future__ import annotations

import os

from flight.cfdp.endpoint import drive
from flight.cfdp.entity import Entity
from flight.cfdp.mib import EntityConfig
from flight.links.base import TokenBucket

RATE = 8e6  # bits per second
STEP = 2e-4  # seconds each reading of the clock moves it on


class SteppingClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += STEP
        return self.now


class PacedLink:
    """A link that paces what it is given to RATE and carries it nowhere; its waits pass on the
    clock."""

    name = "paced"
    mtu = 65536
    rate_bps = RATE
    up = True

    def __init__(self, clock: SteppingClock) -> None:
        self.clock = clock
        self.bucket = TokenBucket(RATE, RATE / 8 * 0.002, clock)
        self.octets = 0
        self.idle = 0.0

    def ready(self) -> bool:
        return self.bucket.ready()

    def wait_hint(self) -> float:
        return self.bucket.wait()

    def send(self, pdu: bytes) -> None:
        self.bucket.take(len(pdu))
        self.octets += len(pdu)

    def flush(self) -> None:
        """Nothing is gathered here: send() took each PDU whole."""

    def receive_coalesced(self, timeout: float) -> list[tuple[bytes, int]]:
        if timeout > 0.01:
            self.idle += timeout
        self.clock.now += timeout
        return []


def test_a_paced_link_that_turns_ready_between_poll_and_the_loops_look_is_not_left_idle(tmp_path):
    path = tmp_path / "results.bin"
    path.write_bytes(os.urandom(500_000))
    clock = SteppingClock()
    link = PacedLink(clock)
    entity = Entity(EntityConfig(1), link, None, clock=clock)
    entity.put(path, None, remote_id=2, acknowledged=False)
    start = clock.now
    assert drive(entity, lambda report: None, lambda ended: not entity.busy, None)
    at_rate = link.octets * 8 / RATE  # half a second
    assert link.octets > 500_000
    assert link.idle == 0.0  # before: a 50 ms idle wait each time the race was lost
    assert clock.now - start < at_rate * 1.1
