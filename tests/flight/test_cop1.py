"""COP-1: FARM-1 (flight/spacelink/farm.py) and FOP-1 (flight/spacelink/fop.py) on their own and
against each other over a channel that loses frames each way, on a clock of its own."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.spacelink.clcw import Clcw, ClcwError
from flight.spacelink.farm import UNLOCK, Farm, FarmState, set_vr_command
from flight.spacelink.fop import Alert, Cop1Refused, Fop, FopConfig, FopState, FrameKind


def test_clcw_octets_as_the_standard_lays_them_out():
    c = Clcw(vcid=5, report_value=0xA7, lockout=True, retransmit=True, farm_b_counter=2)
    assert c.pack() == bytes([0x01, 5 << 2, 0x20 | 0x08 | 2 << 1, 0xA7])
    assert Clcw.unpack(c.pack()) == c
    for bad in (b"\x81\x00\x00\x00", b"\x21\x00\x00\x00", b"\x02\x00\x00\x00", b"\x01\x00"):
        with pytest.raises(ClcwError):
            Clcw.unpack(bad)


def test_farm_takes_frames_in_order_and_reports_what_it_discarded():
    farm = Farm(vcid=0, window=10)  # positive and negative windows of 5
    assert farm.sequenced(0) and farm.sequenced(1)
    assert not farm.sequenced(3)  # frame 2 went missing: ask for a retransmission
    assert farm.clcw().retransmit and farm.clcw().report_value == 2
    assert not farm.sequenced(1)  # a repeat
    assert farm.sequenced(2) and not farm.clcw().retransmit
    assert farm.counters == {"ad_accepted": 3, "ad_discarded_gap": 1, "ad_discarded_repeat": 1}
    farm.expedited()
    assert farm.clcw().farm_b_counter == 1


def test_farm_locks_out_beyond_its_window_and_only_unlock_clears_it():
    farm = Farm(vcid=0, window=10)
    assert not farm.sequenced(100)
    assert farm.state is FarmState.LOCKOUT and farm.clcw().lockout
    assert not farm.sequenced(0)  # nothing is taken while locked out, not even V(R)
    assert farm.control(set_vr_command(50))  # Set V(R) counts, but does not unlock
    assert farm.lockout and farm.vr == 0
    assert not farm.control(b"\x99")
    assert farm.control(UNLOCK)
    assert not farm.lockout
    assert farm.control(set_vr_command(50)) and farm.vr == 50
    assert farm.sequenced(50)
    assert farm.counters["lockouts"] == 1 and farm.counters["bc_refused"] == 1


def test_farm_wait_flag_while_its_buffer_is_full():
    farm = Farm(vcid=0, window=10)
    assert not farm.sequenced(0, buffer_free=False)
    assert farm.clcw().wait and farm.clcw().retransmit
    farm.buffer_released()
    assert not farm.clcw().wait
    assert farm.sequenced(0)


class Link:
    """FOP-1 on the ground, FARM-1 on board, frames and CLCWs lost at random each way; a round
    trip takes one step of the clock."""

    def __init__(self, seed: int, loss: float, config: FopConfig, farm_window: int = 128) -> None:
        self.rng = random.Random(seed)
        self.loss = loss
        self.time = 0.0
        self.farm = Farm(vcid=0, window=farm_window)
        self.delivered: list[bytes] = []
        self.confirmed: dict[object, bool] = {}
        self.in_flight: list[tuple[FrameKind, int | None, bytes]] = []
        self.fop = Fop(0, self._transmit, lambda: self.time, self._confirm, config)
        self.buffer_free = True  # the spacecraft can take telecommands

    def _transmit(self, kind: FrameKind, ns: int | None, data: bytes) -> None:
        if self.rng.random() >= self.loss:
            self.in_flight.append((kind, ns, data))

    def _confirm(self, tag: object, ok: bool, why: str) -> None:
        assert tag not in self.confirmed, f"{tag} confirmed twice"
        self.confirmed[tag] = ok

    def step(self, clcws: int = 1) -> None:
        """One second: the frames in flight arrive, the FARM's CLCW comes down (as many times
        as downlink frames carry it, each lost or not), the timer runs."""
        arriving, self.in_flight = self.in_flight, []
        for kind, ns, data in arriving:
            if kind is FrameKind.AD and self.farm.sequenced(ns, self.buffer_free):
                self.delivered.append(data)
            elif kind is FrameKind.BD:
                self.farm.expedited()
                self.delivered.append(data)
            elif kind is FrameKind.BC:
                self.farm.control(data)
        self.time += 1.0
        for _ in range(clcws):
            if self.rng.random() >= self.loss:
                self.fop.clcw(self.farm.clcw())
        self.fop.tick()


def _run(link: Link, commands: int, limit_s: float = 100_000) -> None:
    link.fop.initiate("none")
    for i in range(commands):
        link.fop.request(f"tc {i}".encode(), tag=i)
    while len(link.confirmed) < commands and link.time < limit_s:
        link.step(clcws=3)


@pytest.mark.parametrize("loss", [0.0, 0.05])
def test_a_thousand_commands_delivered_once_in_order(loss):
    link = Link(seed=21, loss=loss, config=FopConfig(window=64, t1_s=3.0, limit=10))
    _run(link, 1000)
    assert link.delivered == [f"tc {i}".encode() for i in range(1000)]
    assert link.confirmed == {i: True for i in range(1000)}
    assert link.fop.state is FopState.ACTIVE and not link.fop.sent
    if loss:
        assert link.fop.counters["ad_sent_again"] > 0  # the losses were made good
        assert link.farm.counters["ad_discarded_gap"] > 0


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    loss=st.floats(0.0, 0.3),
    window=st.integers(1, 64),
    t1=st.floats(1.5, 6.0),
)
def test_any_loss_delivers_every_command_once_in_order_or_says_it_did_not(seed, loss, window, t1):
    link = Link(seed=seed, loss=loss, config=FopConfig(window=window, t1_s=t1, limit=20))
    _run(link, 120)
    # Whatever COP-1 confirmed was delivered exactly once, in order; what it did not confirm
    # it said so (an alert at the limit), and nothing was delivered out of order or twice.
    sent = [f"tc {i}".encode() for i in range(120)]
    assert link.delivered == sent[: len(link.delivered)]
    ok = [i for i, good in sorted(link.confirmed.items()) if good]
    assert ok == list(range(len(ok)))
    assert len(link.confirmed) == 120
    if link.fop.state is FopState.ACTIVE:
        assert len(ok) == 120
    else:
        assert link.fop.last_alert is Alert.LIMIT or link.fop.last_alert is Alert.T1


def test_a_farm_without_buffer_holds_the_sender_until_it_has_one_again():
    link = Link(seed=1, loss=0.0, config=FopConfig(window=8, t1_s=2.0, limit=3))
    link.fop.initiate("none")
    link.buffer_free = False
    for i in range(5):
        link.fop.request(f"tc {i}".encode(), tag=i)
    states = set()
    for _ in range(6):  # longer than T1 times the limit: waiting is not a failure
        link.step()
        states.add(link.fop.state)
    assert states == {FopState.RETRANSMIT_WAIT} and link.farm.wait
    assert link.delivered == [] and link.confirmed == {}
    link.buffer_free = True
    link.farm.buffer_released()
    for _ in range(4):
        link.step()
    assert link.delivered == [f"tc {i}".encode() for i in range(5)]
    assert link.confirmed == {i: True for i in range(5)} and link.fop.state is FopState.ACTIVE


def test_lockout_is_an_alert_and_unlock_brings_the_service_back():
    link = Link(seed=1, loss=0.0, config=FopConfig(window=8, t1_s=3.0), farm_window=16)
    link.fop.initiate("none")
    link.farm.vr = 100  # the spacecraft's FARM is far from the ground's V(S): out of its window
    link.fop.request(b"first", tag="first")
    link.step()
    assert link.farm.lockout
    assert link.fop.state is FopState.INITIAL and link.fop.last_alert is Alert.LOCKOUT
    assert link.confirmed == {"first": False}
    with pytest.raises(Cop1Refused):
        link.fop.request(b"refused")
    link.fop.initiate("unlock")
    assert link.fop.state is FopState.INITIALISING_BC
    link.step()  # the Unlock arrives; the FARM's CLCW still says V(R) = 100
    assert not link.farm.lockout
    assert link.fop.state is FopState.INITIALISING_BC  # N(R) is not V(S): not yet
    link.fop.terminate()
    link.fop.initiate("set_vr", vr=link.fop.vs)
    link.step()
    assert link.fop.state is FopState.ACTIVE and link.farm.vr == link.fop.vs
    link.fop.request(b"second", tag="second")
    link.step()
    assert link.delivered == [b"second"] and link.confirmed["second"] is True


def test_bypass_frames_go_whatever_the_state():
    link = Link(seed=1, loss=0.0, config=FopConfig())
    link.fop.expedite(b"emergency")
    link.step()
    assert link.delivered == [b"emergency"] and link.farm.counters["bd_accepted"] == 1
    assert link.fop.state is FopState.INITIAL


def test_initiate_with_clcw_check_waits_for_an_agreeing_clcw_or_t1():
    link = Link(seed=1, loss=0.0, config=FopConfig(t1_s=2.5))
    link.fop.initiate("clcw")
    assert link.fop.state is FopState.INITIALISING
    link.step()
    assert link.fop.state is FopState.ACTIVE
    link.fop.terminate()
    assert link.fop.last_alert is Alert.TERM
    link.farm.vr = 9
    link.fop.initiate("clcw")
    for _ in range(3):
        link.step()
    assert link.fop.state is FopState.INITIAL and link.fop.last_alert is Alert.T1


def test_t1_at_the_limit_suspends_with_timeout_type_1_and_resume_goes_on():
    link = Link(seed=1, loss=1.0, config=FopConfig(t1_s=1.0, limit=3, timeout_type=1))
    link.fop.initiate("none")
    link.fop.request(b"lost", tag="lost")
    for _ in range(4):
        link.step()
    assert link.fop.state is FopState.INITIAL and link.fop.suspended_in is FopState.ACTIVE
    assert "lost" not in link.confirmed  # suspended, not purged
    link.loss = 0.0
    link.fop.resume()
    link.step()
    link.step()
    assert link.confirmed == {"lost": True} and link.delivered == [b"lost"]


def test_directives_out_of_their_state_are_refused():
    link = Link(seed=1, loss=0.0, config=FopConfig())
    link.fop.initiate("none")
    with pytest.raises(Cop1Refused):
        link.fop.initiate("none")
    with pytest.raises(Cop1Refused):
        link.fop.set_vs(3)
    with pytest.raises(Cop1Refused):
        link.fop.resume()
    link.fop.terminate()
    with pytest.raises(Cop1Refused):
        link.fop.initiate("set_vr", vr=300)
    with pytest.raises(Cop1Refused):
        link.fop.initiate("sideways")
