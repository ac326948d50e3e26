"""Two CFDP entities joined by an in-memory link with loss and outages, stepped in lockstep on a
shared fake clock: timers, losses and restarts are exercised deterministically, without sleeps."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pytest

from flight.cfdp.entity import Entity
from flight.cfdp.filestore import FileStore
from flight.cfdp.journal import Journal
from flight.cfdp.mib import EntityConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class MemoryLink:
    """One end of an in-memory link: what it sends lands in the other end's inbox (``delay``
    seconds of the clock later), unless the drop rule says otherwise or the link is down."""

    def __init__(
        self,
        name: str,
        mtu: int = 65536,
        per_step: int | None = None,
        clock: Clock | None = None,
        delay: float = 0.0,
    ) -> None:
        self.name = name
        self.clock = clock
        self.delay = delay
        self.in_flight: deque[tuple[float, bytes]] = deque()
        self.mtu = mtu
        self.rate_bps = None
        self.inbox: deque[bytes] = deque()
        self.other: MemoryLink | None = None
        self.is_up = True
        self.drop: Callable[[bytes], bool] = lambda pdu: False
        self.per_step = per_step
        self.sent_this_step = 0
        self.sent: list[bytes] = []

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    @property
    def up(self) -> bool:
        return self.is_up

    def ready(self) -> bool:
        return self.per_step is None or self.sent_this_step < self.per_step

    def send(self, pdu: bytes) -> None:
        self.sent_this_step += 1
        self.sent.append(pdu)
        if self.is_up and not self.drop(pdu):
            if self.delay:
                self.in_flight.append((self.clock.now + self.delay, pdu))
            else:
                self.other.inbox.append(pdu)

    def receive(self, timeout: float) -> list[bytes]:
        while self.other.in_flight and self.other.in_flight[0][0] <= self.clock.now:
            self.inbox.append(self.other.in_flight.popleft()[1])
        out = list(self.inbox)
        self.inbox.clear()
        return out


class RunLink(MemoryLink):
    """A MemoryLink that also takes new file data many PDUs at once, as the batched UDP link
    does (``run_room``, ``send_run``): each of them then goes, or is lost, on its own."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.runs = 0

    def run_room(self, stride: int) -> int:
        return 64 if self.per_step is None else self.per_step - self.sent_this_step

    def send_run(self, pdus: memoryview, stride: int) -> None:
        assert 0 < len(pdus) <= self.run_room(stride) * stride
        self.runs += 1
        for at in range(0, len(pdus), stride):
            self.send(bytes(pdus[at : at + stride]))


class Pair:
    """Entity 1 (the sender's side, 'flight') and entity 2 ('ground') over a MemoryLink pair
    (``runs``: links that take new file data many PDUs at once)."""

    def __init__(
        self,
        root: Path,
        config1: dict | None = None,
        config2: dict | None = None,
        per_step: int | None = 64,
        journal: bool = False,
        delay: float = 0.0,
        runs: bool = False,
    ) -> None:
        self.root = root
        self.clock = Clock()
        kind = RunLink if runs else MemoryLink
        self.link1, self.link2 = (
            kind("1", per_step=per_step, clock=self.clock, delay=delay),
            kind("2", per_step=per_step, clock=self.clock, delay=delay),
        )
        self.link1.other, self.link2.other = self.link2, self.link1
        self.config1 = EntityConfig(1, **(config1 or {}))
        self.config2 = EntityConfig(2, **(config2 or {}))
        self.journal = journal
        self.e1 = self.make(1)
        self.e2 = self.make(2)

    def make(self, n: int) -> Entity:
        journal = Journal(self.root / f"state{n}" / "cfdp.sqlite") if self.journal else None
        link = self.link1 if n == 1 else self.link2
        config = self.config1 if n == 1 else self.config2
        return Entity(config, link, FileStore(self.root / f"store{n}"), journal, self.clock)

    def restart(self, n: int) -> None:
        """A crash and restart of one entity: a new object from its journal and file store."""
        old = self.e1 if n == 1 else self.e2
        for t in old.senders.values():
            t._finish  # noqa: B018  (transactions are simply abandoned, as a crash does)
        if old.journal is not None:
            old.journal.close()
        new = self.make(n)
        if n == 1:
            self.e1 = new
        else:
            self.e2 = new

    def step(self, dt: float = 0.01) -> None:
        self.clock.now += dt
        for link, entity in ((self.link1, self.e1), (self.link2, self.e2)):
            link.sent_this_step = 0
            for raw in link.receive(0):
                entity.receive(raw)
            entity.poll()

    def run(self, until: Callable[[], bool], max_steps: int = 100_000, dt: float = 0.01) -> int:
        for i in range(max_steps):
            if until():
                return i
            self.step(dt)
        raise AssertionError(f"not done after {max_steps} steps")

    def quiet(self) -> bool:
        return not self.e1.busy and not self.e2.busy


@pytest.fixture(params=[False, True], ids=["one-by-one", "runs"])
def pair(tmp_path, request):
    return Pair(tmp_path, runs=request.param)


@pytest.fixture
def rng():
    return random.Random(1234)
