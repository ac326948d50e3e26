"""Class 2 adapting its rate to congestion (flight/cfdp/congestion.py), in lockstep: a bottleneck
that drains a queue at its own rate and drops what finds the queue full, as an overrun socket
buffer or router does, against scattered losses of single datagrams, as bit errors leave."""

from __future__ import annotations

import os
import random
from collections import deque

import pytest

from flight.cfdp.congestion import SendRate
from flight.cfdp.entity import Entity
from flight.cfdp.filestore import FileStore
from flight.cfdp.mib import EntityConfig
from tests.cfdp.conftest import Clock, MemoryLink

STEP = 0.001  # seconds of the clock a step


class Bottleneck(MemoryLink):
    """Takes everything; its far end gets ``per_step`` datagrams a step from a queue of
    ``depth``, and what finds the queue full is dropped."""

    def __init__(self, clock: Clock, per_step: int, depth: int) -> None:
        super().__init__("bottleneck", clock=clock)
        self.queue: deque[bytes] = deque()
        self.capacity, self.depth = per_step, depth
        self.dropped = 0

    def send(self, pdu: bytes) -> None:
        self.sent.append(pdu)
        if len(self.queue) < self.depth:
            self.queue.append(pdu)
        else:
            self.dropped += 1

    def drain(self) -> None:
        for _ in range(min(self.capacity, len(self.queue))):
            self.other.inbox.append(self.queue.popleft())


class RunBottleneck(Bottleneck):
    """A Bottleneck that also takes new file data many PDUs at once, as the batched UDP link
    does: the largest run it was handed after the rate was first lowered is kept."""

    def __init__(self, clock: Clock, per_step: int, depth: int) -> None:
        super().__init__(clock, per_step, depth)
        self.rate: SendRate | None = None
        self.runs = 0
        self.largest_paced = 0  # PDUs

    def run_room(self, stride: int) -> int:
        return 256

    def send_run(self, pdus: memoryview, stride: int) -> None:
        self.runs += 1
        if self.rate is not None and self.rate.rate is not None:
            self.largest_paced = max(self.largest_paced, -(-len(pdus) // stride))
        for at in range(0, len(pdus), stride):
            self.send(bytes(pdus[at : at + stride]))


def transfer(tmp_path, adapt: bool, link_factory, size: int = 4_000_000) -> tuple:
    clock = Clock()
    tx = link_factory(clock)
    rx = MemoryLink("rx", clock=clock)
    tx.other, rx.other = rx, tx
    config = EntityConfig(1, segment_size=1000, adapt_rate=adapt)
    sender = Entity(config, tx, FileStore(tmp_path / "s1"), None, clock)
    receiver = Entity(EntityConfig(2), rx, FileStore(tmp_path / "s2"), None, clock)
    data = os.urandom(size)
    (tmp_path / "file.bin").write_bytes(data)
    seq = sender.put(tmp_path / "file.bin", remote_id=2)
    if isinstance(tx, RunBottleneck):
        tx.rate = sender.send_rate(2)
    start = clock.now
    for _ in range(200_000):
        clock.now += STEP
        if isinstance(tx, Bottleneck):
            tx.drain()
        for raw in tx.receive(0):
            sender.receive(raw)
        sender.poll()
        for raw in rx.receive(0):
            receiver.receive(raw)
        receiver.poll()
        if not sender.busy and not receiver.busy:
            break
    assert (tmp_path / "s2" / "file.bin").read_bytes() == data
    return sender, sender.finished_senders[seq], clock.now - start


@pytest.mark.parametrize("kind", [Bottleneck, RunBottleneck], ids=["one-by-one", "runs"])
def test_losses_in_runs_from_an_overflowing_queue_bring_the_rate_down(tmp_path, kind):
    """20 PDUs a millisecond drain a queue of 50: unpaced, the sender's 256 a poll overrun it.
    Handed over in runs, new data goes no more at once than the pace allows."""

    def bottleneck(clock: Clock) -> Bottleneck:
        return kind(clock, per_step=20, depth=50)

    drained_in = 4_000_000 / 20_000_000  # seconds: 20 000 octets a millisecond
    _, unpaced, unpaced_took = transfer(tmp_path / "a", False, bottleneck)
    assert unpaced.retransmitted > 2 * unpaced.size  # most of the file went three times or more
    assert unpaced_took > 5 * drained_in
    sender, t, took = transfer(tmp_path / "b", True, bottleneck)
    rate = sender.send_rates[2]
    assert rate.decreases >= 1
    assert t.retransmitted < 0.5 * t.size  # the first burst, before the first NAK came back
    assert took < 2 * drained_in
    assert rate.rate is not None and rate.rate < 5 * 20_000_000  # near the 20 MB/s it drains
    if kind is RunBottleneck:  # a burst of the pace's is 64 KiB: 65 PDUs of 1000 octets
        link = sender.link
        assert link.runs > 0 and 1 <= link.largest_paced <= 65


def test_single_datagrams_lost_here_and_there_leave_the_rate_alone(tmp_path):
    """Bit errors (1% of datagrams, one at a time) are the link's, not congestion."""
    rng = random.Random(4)

    def lossy(clock: Clock) -> MemoryLink:
        link = MemoryLink("lossy", clock=clock)
        link.drop = lambda pdu: rng.random() < 0.01
        return link

    sender, t, _ = transfer(tmp_path, True, lossy)
    assert t.retransmitted > 0
    assert sender.send_rates[2].decreases == 0
    assert sender.send_rates[2].rate is None


@pytest.mark.parametrize("adapt", [False])
def test_the_rate_is_not_adapted_unless_the_mib_says_so(tmp_path, adapt):
    sender, t, _ = transfer(tmp_path, adapt, lambda clock: MemoryLink("plain", clock=clock))
    assert t.rate is None and sender.send_rates == {}
