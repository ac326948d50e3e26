"""The bench's laser terminals: each datagram carried to the satellite its CFDP header addresses
(the sender, for what goes back to it), in the second after it was sent, while the topology has
the link up and within the second's share of the carried rate; losses the same for a seed; a
link that flaps reported in one line. Real UDP sockets on both ends."""

import socket

import numpy as np
import pytest

from flight.cfdp import pdu as P
from hil.isl_relay import IslRelay, flapping
from hil.models.isl import Flap, IslConfig, Topology, flapped

T0 = 1_800_000_000.0
SECONDS = 100


def _topology(up):
    positions = [np.zeros((SECONDS, 3)), np.tile([0.0, 0.0, 2998.0], (SECONDS, 1)),
                 np.tile([0.0, 3000.0, 0.0], (SECONDS, 1))]  # fmt: skip
    return Topology(["a", "b", "c"], positions, {(0, 1): up})


def _pdu(source, dest, toward_sender=False, octets=100):
    header = P.Header(source, 7, dest, toward_sender=toward_sender)
    return P.encode(P.FileData(header, 0, bytes(octets)))


class Payloads:
    """Each satellite's end: a socket bound where its --isl URL says, sending to its terminal."""

    def __init__(self, relay):
        self.relay = relay
        self.socks = []
        for i in range(len(relay.socks)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", relay.payload_ports[i]))
            sock.setblocking(False)
            self.socks.append(sock)

    def send(self, i, data):
        self.socks[i].sendto(data, self.relay.socks[i].getsockname())

    def received(self, i):
        out = []
        while True:
            try:
                out.append(self.socks[i].recv(65536))
            except BlockingIOError:
                return out

    def second(self, t):
        """The bench's side of one bus second: take in what was sent, hand over what is due."""
        for i in range(len(self.socks)):
            self.relay.collect(i, t)
        for i in range(len(self.socks)):
            self.relay.deliver(i, t + 1)

    def close(self):
        for sock in self.socks:
            sock.close()
        self.relay.close()


@pytest.fixture
def mesh():
    made = []

    def make(up, **config):
        relay = IslRelay(_topology(up), [161, 162, 163], IslConfig(**config), seed=3, start=T0)
        relay.open()
        made.append(Payloads(relay))
        return made[-1]

    yield make
    for payloads in made:
        payloads.close()


def test_datagrams_go_where_their_header_says_while_the_link_is_up(mesh):
    net = mesh(up=[(0, 10)])
    data, back = _pdu(161, 162), _pdu(161, 162, toward_sender=True)
    net.send(0, data)  # second 1 (index 0): a to b
    net.send(1, back)  # b's answer back to the sender, a
    net.send(0, _pdu(161, 163))  # to c: no link
    net.send(0, b"\x00\x01")  # not a PDU
    net.second(T0 + 1)
    assert net.received(1) == [data] and net.received(0) == [back] and net.received(2) == []
    counts = net.relay.counts
    assert (counts["carried"], counts["dropped_no_link"], counts["dropped_unaddressed"]) == (
        2,
        1,
        1,
    )
    net.send(0, data)
    net.second(T0 + 11)  # index 10: the link is down
    assert net.received(1) == [] and counts["dropped_no_link"] == 2
    figures = net.relay.figures()
    assert figures["isl_delay_ms_median"] == pytest.approx(2998 / 299_792.458 * 1e3, rel=1e-3)
    assert figures["isl_rate_scale"] == pytest.approx(2.5e9 / 8e6, rel=1e-3)


def test_a_second_carries_its_share_and_losses_follow_the_seed(mesh):
    net = mesh(up=[(0, SECONDS)], carried_bps=8 * 1000)  # 1000 octets a second
    for _ in range(5):
        net.send(0, _pdu(161, 162, octets=300))  # ~320 octets each
    net.second(T0 + 1)
    assert len(net.received(1)) == 4  # the fourth overruns the second's 1000: the fifth is dropped
    assert net.relay.counts["dropped_rate"] == 1

    def lost(seed):
        relay = IslRelay(_topology([(0, SECONDS)]), [161, 162, 163], IslConfig(loss=0.3),
                         seed=seed, start=T0)  # fmt: skip
        relay.open()
        payloads = Payloads(relay)
        pattern = []
        for k in range(40):
            payloads.send(0, _pdu(161, 162))
            payloads.second(T0 + 1 + k)
            pattern.append(len(payloads.received(1)))
        payloads.close()
        return pattern

    first = lost(5)
    assert first == lost(5) and 0 < first.count(0) < 40 and first != lost(6)


def test_a_flapping_link_is_down_half_the_time_and_reported_in_one_line():
    topology = _topology([(0, SECONDS)])
    flap = Flap("a", "b", start_s=20, duration_s=40, every_s=5)
    flaps = flapped(topology, (flap,))
    assert [flaps.up(0, 1, s) for s in (19, 20, 24, 25, 29, 30, 59, 60)] == [
        True, True, True, False, False, True, False, True,
    ]  # fmt: skip
    assert len(flaps.changes) == 9 and topology.changes == []  # up at 0, then 8 flaps
    [line] = flapping(flaps)
    assert line.startswith("laser link a-b flaps: 6 changes within")
    assert flapping(topology) == []
