"""The laser links' traffic on the bench: each payload's laser terminal (``python -m flight run
--isl``) is a UDP socket of the bench's, and every datagram a payload sends there is carried to
the satellite its CFDP header addresses (the receiver, or the sender for the PDUs that go back
to it), as the link between the two allows in that second of the run's topology
(hil/models/isl.py): up or not, its rate, its loss, and its light time.

The bench carries ``carried_bps`` per link and direction in each bus second, where the
terminals' real rate is ``rate_bps``: a machine that steps a constellation through a day in
minutes cannot carry optical rates in it as well, so the links run scaled by
``rate_bps / carried_bps``, and the report says so. A datagram past a second's share is
dropped, as a terminal's full buffer drops it; one lost is drawn from the link's own generator
(seeded by the run's seed and the pair), so that a lockstep run carries and loses the same
datagrams every time.

In lockstep a payload sends its datagrams while it handles a tick, before the housekeeping that
answers it: the bench takes them in once that answer is in (``collect``), and hands each to its
satellite before that satellite's next tick (``deliver``), the light time (milliseconds) being
below the second the bus resolves. A link that comes and goes every few seconds is reported in
one line.
"""

from __future__ import annotations

import socket
from collections import Counter
from dataclasses import dataclass

import numpy as np

from flight.cfdp.pdu import PduError, decode_header
from hil.models.isl import IslConfig, Topology

FLAP_WINDOW_S = 60  # a link that changes this often ...
FLAP_CHANGES = 6  # ... this many times within the window flaps


class IslRelay:
    """The laser terminals of a fleet run's satellites (their CFDP entity ids, in the topology's
    order), from bus second ``start`` on."""

    def __init__(
        self, topology: Topology, entities: list[int], traffic: IslConfig, seed: int, start: float
    ) -> None:
        self.topology = topology
        self.index = {entity: i for i, entity in enumerate(entities)}
        self.traffic = traffic
        self.seed = seed
        self.start = start
        self.socks: list[socket.socket] = []
        self.payload_ports: list[int] = []
        # per receiver: (due second, sender, sender's count, datagram), delivered in that order
        self.queues: list[list[tuple[float, int, int, bytes]]] = [[] for _ in entities]
        self._spent: dict[tuple[int, int], tuple[int, int]] = {}  # link -> (second, octets)
        self._rngs: dict[tuple[int, int], np.random.Generator] = {}
        self.counts: Counter[str] = Counter()
        self.delays: list[float] = []

    def open(self) -> None:
        """A socket for each terminal, and a free port for each payload's end."""
        for _ in self.index:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            self.socks.append(sock)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", 0))  # released at once: the payload binds it next
                self.payload_ports.append(probe.getsockname()[1])

    def close(self) -> None:
        for sock in self.socks:
            sock.close()

    def terminal(self, i: int) -> LaserTerminal:
        """Satellite i's terminal, as its bus drives it."""
        return LaserTerminal(self, i)

    def url(self, i: int) -> str:
        """Satellite i's ``--isl``: its terminal, the carried rate, and its own end."""
        port = self.socks[i].getsockname()[1]
        return (
            f"udp://127.0.0.1:{port}?rate={self.traffic.carried_bps:.0f}"
            f"&bind=127.0.0.1:{self.payload_ports[i]}"
        )

    def _second(self, t: float) -> int:
        seconds = len(self.topology.positions[0]) if self.topology.positions else 0
        return min(max(int(t - self.start) - 1, 0), max(seconds - 1, 0))

    def collect(self, i: int, t: float) -> None:
        """What satellite i's payload sent in bus second ``t``: each datagram queued for its
        satellite, or dropped (no link, past the second's share, lost)."""
        sock = self.socks[i]
        second = self._second(t)
        while True:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, ConnectionRefusedError):
                return
            self.counts["datagrams"] += 1
            j = self._addressee(data)
            if j is None or j == i:
                self.counts["dropped_unaddressed"] += 1
            elif not self.topology.up(i, j, second):
                self.counts["dropped_no_link"] += 1
            elif not self._within_share(i, j, second, len(data)):
                self.counts["dropped_rate"] += 1
            elif self.traffic.loss and self._rng(i, j).random() < self.traffic.loss:
                self.counts["lost"] += 1
            else:
                self.counts["carried"] += 1
                self.counts["octets_carried"] += len(data)
                self.delays.append(self.topology.delay_s(i, j, second))
                self.queues[j].append((t + 1.0, i, self.counts["datagrams"], data))

    def deliver(self, j: int, t: float) -> None:
        """Hand satellite j's payload what arrived for it by bus second ``t``: by sender, then
        as each sent them (the buses take their payloads' datagrams in whatever order their
        answers come in; the order handed over is the same every run)."""
        due = sorted(e for e in self.queues[j] if e[0] <= t)
        self.queues[j] = [e for e in self.queues[j] if e[0] > t]
        for *_, data in due:
            try:
                self.socks[j].sendto(data, ("127.0.0.1", self.payload_ports[j]))
            except (BlockingIOError, ConnectionRefusedError):  # not up (restarting): lost
                self.counts["dropped_payload_down"] += 1

    def _addressee(self, data: bytes) -> int | None:
        try:
            header, _, _ = decode_header(memoryview(data))
        except PduError:
            return None
        return self.index.get(header.source_id if header.toward_sender else header.dest_id)

    def _within_share(self, i: int, j: int, second: int, octets: int) -> bool:
        at, spent = self._spent.get((i, j), (second, 0))
        spent = spent if at == second else 0
        if spent >= self.traffic.carried_bps / 8:  # the last datagram of a second may overrun it
            return False
        self._spent[(i, j)] = (second, spent + octets)
        return True

    def _rng(self, i: int, j: int) -> np.random.Generator:
        if (i, j) not in self._rngs:
            self._rngs[(i, j)] = np.random.default_rng([self.seed, i, j])
        return self._rngs[(i, j)]

    def figures(self) -> dict[str, float | int]:
        """The traffic carried and dropped, the light time, and the rate scaling."""
        return {
            "isl_rate_bps": self.traffic.rate_bps,
            "isl_carried_bps": self.traffic.carried_bps,
            "isl_rate_scale": round(self.traffic.rate_bps / self.traffic.carried_bps, 1),
            "isl_datagrams": self.counts["datagrams"],
            "isl_carried": self.counts["carried"],
            "isl_octets_carried": self.counts["octets_carried"],
            "isl_dropped_no_link": self.counts["dropped_no_link"],
            "isl_dropped_rate": self.counts["dropped_rate"],
            "isl_dropped_unaddressed": self.counts["dropped_unaddressed"],
            "isl_dropped_payload_down": self.counts["dropped_payload_down"],
            "isl_lost": self.counts["lost"],
            "isl_delay_ms_median": round(1e3 * float(np.median(self.delays)), 3)
            if self.delays
            else None,
        }


@dataclass(frozen=True)
class LaserTerminal:
    """One satellite's terminal on the relay: its bus hands over what arrived before each tick,
    and takes in what its payload sent once the tick is answered."""

    relay: IslRelay
    i: int

    def deliver(self, t: float) -> None:
        self.relay.deliver(self.i, t)

    def collect(self, t: float) -> None:
        self.relay.collect(self.i, t)


def flapping(topology: Topology) -> list[str]:
    """One line for each link that changed FLAP_CHANGES times within FLAP_WINDOW_S seconds."""
    by_link: dict[tuple[str, str], list[int]] = {}
    for change in topology.changes:
        by_link.setdefault((change.a, change.b), []).append(change.t_s)
    lines = []
    for (a, b), times in sorted(by_link.items()):
        for k in range(len(times) - FLAP_CHANGES + 1):
            if times[k + FLAP_CHANGES - 1] - times[k] <= FLAP_WINDOW_S:
                lines.append(
                    f"laser link {a}-{b} flaps: {FLAP_CHANGES} changes within "
                    f"{times[k + FLAP_CHANGES - 1] - times[k]} s from second {times[k]} "
                    f"({len(times)} changes in the run)"
                )
                break
    return lines
