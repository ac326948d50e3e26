"""The relay on the laser mesh: a file for the ground goes by the neighbour whose pass comes
sooner, custody passing with the neighbour's Finished; a transfer cut by the link breaking
leaves the file where it was, routed again; a neighbour restarted in the middle of a transfer
finishes it; a copy that comes again is kept once; a contact plan is loaded only once it
validates. Real relays, real UDP sockets and the bench's laser terminals between them."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from flight import dictionary as d
from flight.cfdp.pdu import Condition
from flight.downlink.recorder import PRIORITY_HOUSEKEEPING
from flight.downlink.service import (
    GROUND_ENTITY,
    RECORDING_S,
    Downlink,
    DownlinkConfig,
    DownlinkError,
)
from flight.links.laser import LaserLink, parse_laser_url
from flight.links.udp import LinkUrlError
from flight.relay.custody import DOWNLINKING, FORWARDED, HELD, HOLDING
from flight.relay.service import Relay
from hil.isl_relay import IslRelay
from hil.models.isl import IslConfig, Topology
from tests.flight.conftest import START
from tests.flight.test_controller_commands import failure

A, B = 161, 162
SECONDS = 2_000


def _plan(*contacts):
    return json.dumps({"contacts": [
        {"between": list(pair), "start": START + s, "end": START + e, "rate_bps": rate,
         "owlt_s": 0.005} for pair, s, e, rate in contacts
    ]})  # fmt: skip


# a's own pass is an hour away; b's comes in 100 s, and a and b see each other now
PLAN = _plan(((A, B), 0, 1000, 8e6), ((B, GROUND_ENTITY), 100, 700, 64e3),
             ((A, GROUND_ENTITY), 3600, 4200, 64e3))  # fmt: skip


class Mesh:
    """Two payloads' relays and downlinks on their state directories, their laser terminals
    the bench's, the link between them up in the seconds ``up`` gives."""

    def __init__(
        self,
        tmp_path: Path,
        up: list[tuple[int, int]],
        plan: str = PLAN,
        passes: dict[int, list[tuple[int, int]]] | None = None,
    ) -> None:
        self.passes = passes or {}  # each payload's downlink windows, seconds from START
        positions = [np.zeros((SECONDS, 3)), np.tile([0.0, 0.0, 3000.0], (SECONDS, 1))]
        topology = Topology(["a", "b"], positions, {(0, 1): up})
        self.isl = IslRelay(topology, [A, B], IslConfig(carried_bps=8e6), seed=1, start=START - 1)
        self.isl.open()
        self.dirs = {A: tmp_path / "a", B: tmp_path / "b"}
        self.relays: dict[int, Relay] = {}
        self.events: dict[int, list[tuple[str, dict]]] = {A: [], B: []}
        for entity, state in self.dirs.items():
            (state / "relay").mkdir(parents=True)
            (state / "relay" / "contact-plan.json").write_text(plan)
            self.start(entity)
        self.t = START

    def start(self, entity: int) -> None:
        state = self.dirs[entity]
        downlink = Downlink(state, lambda pdu: None, DownlinkConfig.shipped())
        i = [A, B].index(entity)
        relay = downlink.router = Relay(state, entity, LaserLink(self.isl.url(i)), downlink)
        relay.link.open()
        self.relays[entity] = relay

    def stop(self, entity: int) -> None:
        relay = self.relays.pop(entity)
        relay.close()
        relay.downlink.close()

    def run(self, seconds: int, until=lambda: False) -> None:
        for _ in range(seconds):
            self.t += 1
            for i, entity in enumerate((A, B)):
                self.isl.deliver(i, self.t)
                if entity in self.relays:
                    relay = self.relays[entity]
                    second = self.t - START
                    window = any(s <= second < e for s, e in self.passes.get(entity, ()))
                    self.events[entity] += relay.downlink.second(self.t, window)
                    self.events[entity] += relay.second(self.t)
                self.isl.collect(i, self.t)
            if until():
                return

    def bundles(self, entity: int, *states: str):
        return self.relays[entity].custody.in_state(*states)

    def close(self) -> None:
        for entity in list(self.relays):
            self.stop(entity)
        self.isl.close()


@pytest.fixture
def result(tmp_path):
    """A job's result on a: 300 kB."""
    path = tmp_path / "a" / "jobs" / "job-1" / "out.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(300_000))
    return path


def _names(events):
    return [name for name, _ in events]


def test_a_result_goes_by_the_neighbour_whose_pass_comes_first(tmp_path, result):
    mesh = Mesh(tmp_path, up=[(0, 1000)])
    try:
        mesh.relays[A].hold(result, "job-1/out.bin", 10)
        mesh.run(
            60, until=lambda: bool(mesh.bundles(A, FORWARDED) and mesh.bundles(B, DOWNLINKING))
        )
        [forwarded] = mesh.bundles(A, FORWARDED)
        assert (forwarded.hop, forwarded.name) == (B, "job-1/out.bin")
        [held] = mesh.bundles(B, DOWNLINKING)  # b's pass is the soonest way down
        assert (held.origin, held.relayed) == (A, True)
        copy = Path(held.path)
        assert (
            hashlib.sha256(copy.read_bytes()).digest()
            == hashlib.sha256(result.read_bytes()).digest()
        )
        [down] = mesh.relays[B].downlink.entity.senders.values()
        assert (down.dest_name, down.path) == ("relay/161/job-1/out.bin", str(copy))
        assert "FILE_FORWARDED" in _names(mesh.events[A])
        assert mesh.relays[B].housekeeping() == {"isl_links": 1, "relay_files": 1}
        assert mesh.relays[A].housekeeping() == {"isl_links": 1, "relay_files": 0}
        assert (
            "FILE_TAKEN",
            {"origin": A, "name": "job-1/out.bin", "neighbour": A},
        ) in mesh.events[B]
        assert mesh.isl.counts["dropped_no_link"] == 0
        # the same file given again, or passed again, is held once
        mesh.relays[A].hold(result, "job-1/out.bin", 10)
        assert len(mesh.relays[A].custody.in_state(*HOLDING)) == 0
        events = mesh.relays[B]._taken(A, "relay/161/job-1/out.bin", copy)
        assert _names(events) == ["FILE_TAKEN_AGAIN"]
    finally:
        mesh.close()


def test_a_transfer_cut_by_the_link_breaking_leaves_the_file_held_and_routed_again(
    tmp_path, result
):
    result.write_bytes(os.urandom(3_000_000))  # three seconds of the link's share
    mesh = Mesh(tmp_path, up=[(0, 2)])
    try:
        mesh.relays[A].hold(result, "job-1/out.bin", 10)
        mesh.run(300, until=lambda: bool(mesh.bundles(A, DOWNLINKING)))
        failed = [v for name, v in mesh.events[A] if name == "FILE_FORWARD_FAILED"]
        assert len(failed) == 1 and failed[0]["neighbour"] == B
        [own] = mesh.bundles(A, DOWNLINKING)  # b is routed around: down a's own pass
        assert own.path == str(result.resolve()) and not mesh.bundles(A, HELD, FORWARDED)
        assert mesh.isl.counts["dropped_no_link"] > 0
        assert mesh.relays[B].custody.in_state(*HOLDING) == []  # b never held it whole
    finally:
        mesh.close()


def test_a_neighbour_restarted_mid_transfer_finishes_it_and_holds_the_file_once(tmp_path, result):
    result.write_bytes(os.urandom(3_000_000))
    mesh = Mesh(tmp_path, up=[(0, 1000)])
    try:
        mesh.relays[A].hold(result, "job-1/out.bin", 10)
        mesh.run(2)
        assert mesh.relays[B].entity.receivers  # part of it is there
        assert mesh.isl.counts["dropped_rate"] == 0  # a paces to the link's share
        mesh.stop(B)
        mesh.run(5)  # what a sends meanwhile is lost: b's port is closed
        mesh.start(B)
        mesh.run(600, until=lambda: bool(mesh.bundles(A, FORWARDED) and mesh.bundles(B, *HOLDING)))
        assert len(mesh.bundles(A, FORWARDED)) == 1
        [held] = mesh.bundles(B, *HOLDING)
        assert Path(held.path).read_bytes() == result.read_bytes()
        assert _names(mesh.events[A]).count("FILE_FORWARDED") == 1
    finally:
        mesh.close()


def test_a_file_a_pass_ended_on_is_taken_back_and_goes_by_a_neighbour(tmp_path, result):
    """A pass that ends before a file is down: the file's transfer is cancelled and it goes by
    the neighbour whose pass comes next, rather than waiting for the satellite's own."""
    plan = _plan(
        ((A, GROUND_ENTITY), 10, 60, 64e3),
        ((A, B), 0, 1000, 8e6),
        ((B, GROUND_ENTITY), 100, 700, 64e3),
        ((A, GROUND_ENTITY), 9000, 9600, 64e3),
    )
    mesh = Mesh(tmp_path, up=[(0, 1000)], plan=plan, passes={A: [(10, 60)]})
    try:
        mesh.relays[A].hold(result, "job-1/out.bin", 10)  # 38 s of the pass: it fits
        mesh.run(5)
        [down] = mesh.bundles(A, DOWNLINKING)
        assert down.seq in mesh.relays[A].downlink.entity.senders
        mesh.run(200, until=lambda: bool(mesh.bundles(A, FORWARDED)))  # nothing answers it
        assert mesh.relays[A].counters["taken_back"] == 1
        entity = mesh.relays[A].downlink.entity
        cancelled = entity.senders.get(down.seq) or entity.finished_senders[down.seq]
        assert cancelled.condition is Condition.CANCEL_REQUEST
        [forwarded] = mesh.bundles(A, FORWARDED)
        assert forwarded.hop == B
    finally:
        mesh.close()


def test_stored_telemetry_goes_by_the_relay_too(tmp_path):
    """Recordings are handed to the relay every RECORDING_S, and go by the neighbour whose pass
    comes first; the recording is deleted once a neighbour holds it."""
    plan = _plan(((A, B), 0, 5000, 8e6), ((B, GROUND_ENTITY), 1900, 2500, 64e3),
                 ((A, GROUND_ENTITY), 9000, 9600, 64e3))  # fmt: skip
    mesh = Mesh(tmp_path, up=[(0, 5000)], plan=plan)
    try:
        downlink = mesh.relays[A].downlink
        mesh.run(1)  # the first hand-over, of nothing
        for n in range(100):
            downlink.record(3, n.to_bytes(4, "big") * 50)
        mesh.run(
            int(RECORDING_S) + 30,
            until=lambda: bool(mesh.bundles(A, FORWARDED) and mesh.bundles(B, DOWNLINKING)),
        )
        [stored] = mesh.bundles(A, FORWARDED)
        assert stored.name.startswith("stored/stored-") and stored.hop == B
        assert not Path(stored.path).exists()
        [copy] = mesh.bundles(B, DOWNLINKING)
        assert (copy.origin, copy.name, copy.priority) == (A, stored.name, PRIORITY_HOUSEKEEPING)
        assert Path(copy.path).stat().st_size == 100 * 200
    finally:
        mesh.close()


def test_a_contact_plan_is_used_only_once_it_validates(tmp_path):
    from tests.flight.conftest import PayloadHarness

    isl = IslRelay(
        Topology(["a"], [np.zeros((10, 3))]), [A], IslConfig(), seed=1, start=START
    )  # fmt: skip
    isl.open()
    payload = PayloadHarness(tmp_path / "state", laser=LaserLink(isl.url(0)), entity_id=A)
    plain = PayloadHarness(tmp_path / "plain")
    try:
        files = payload.state_dir / "files"
        files.mkdir(exist_ok=True)
        (files / "bad.json").write_text('{"contacts": [{"between": [161, 161]}]}')
        code, reason = failure(payload.command("CONTACT_PLAN_LOAD", {"file": "bad.json"}))
        assert code is d.FailureCode.CONTACT_PLAN_INVALID and "contacts[0]" in reason
        assert payload.ctl.board.relay.plan is None
        (files / "plan.json").write_text(PLAN)
        tms = payload.command("CONTACT_PLAN_LOAD", {"file": "plan.json"})
        [loaded] = [t.values for t in tms if t.name == "CONTACT_PLAN_LOADED"]
        assert loaded == {"contacts": 3, "ends": START + 4200}
        payload.restart(crash=False)
        assert len(payload.ctl.board.relay.plan.contacts) == 3  # kept across a restart
        code, _ = failure(plain.command("CONTACT_PLAN_LOAD", {"file": "plan.json"}))
        assert code is d.FailureCode.RELAY_ABSENT
    finally:
        payload.close()
        plain.close()
        isl.close()


@pytest.mark.parametrize(
    ("url", "fault"),
    [
        ("udp://127.0.0.1:5000?colour=red", "expected udp://HOST:PORT[?rate=BPS][&bind=HOST:PORT]"),
        ("udp://127.0.0.1:5000?bind=nowhere", "bind='nowhere' is not HOST:PORT"),
        ("udp://127.0.0.1:5000?bind=h:70000", "bind='h:70000' is not HOST:PORT"),
        ("udp://127.0.0.1:5000?rate=nan", "rate must be a finite number above zero"),
        ("udp://127.0.0.1:5000?rate=fast", "rate 'fast' is not a number"),
        ("tcp://127.0.0.1:5000", "expected udp://HOST:PORT"),
    ],
)
def test_a_laser_terminal_url_is_taken_or_refused_in_one_line(url, fault):
    with pytest.raises(LinkUrlError, match=re.escape(fault)):
        parse_laser_url(url)
    assert parse_laser_url("udp://127.0.0.1:5000?rate=1e6&bind=127.0.0.1:6000") == (
        "udp://127.0.0.1:5000",
        1e6,
        ("127.0.0.1", 6000),
    )


def test_a_file_of_downlink_file_is_copied_as_it_stands_and_routed_by_its_content(tmp_path):
    """With a relay, DOWNLINK_FILE copies the file into custody under the name of its content:
    it goes by the neighbour whose pass comes first, and the copy is deleted once the neighbour
    holds it; the file asked for again unchanged while held is the same file, changed another,
    and unchanged after it went on, a new copy under a name of its own."""
    mesh = Mesh(tmp_path, up=[(0, 1000)])
    try:
        log = tmp_path / "a" / "logs" / "run.log"
        log.parent.mkdir()
        log.write_bytes(b"first part\n" * 1000)
        downlink = mesh.relays[A].downlink
        downlink.send_file("logs//run.log", 5)
        downlink.send_file("logs/run.log", 5)  # unchanged: the same file
        [held] = mesh.bundles(A, HELD)
        digest = hashlib.sha256(log.read_bytes()).hexdigest()[:16]
        assert (held.name, held.priority) == (f"_file/{digest}/logs/run.log", 5)
        log.write_bytes(b"changed\n")  # the copy, not the file, goes
        assert Path(held.path).read_bytes() == b"first part\n" * 1000
        mesh.run(60, until=lambda: bool(mesh.bundles(B, DOWNLINKING)))
        [copy] = mesh.bundles(B, DOWNLINKING)
        assert (copy.origin, copy.name) == (A, held.name)
        [down] = mesh.relays[B].downlink.entity.senders.values()
        assert down.dest_name == f"relay/{A}/{held.name}"
        assert not Path(held.path).exists()  # a's copy, gone on
        downlink.send_file("logs/run.log", 5)  # changed since: another file
        [again] = mesh.bundles(A, *HOLDING)
        changed = hashlib.sha256(b"changed\n").hexdigest()[:16]
        assert again.name == f"_file/{changed}/logs/run.log"
        log.write_bytes(b"first part\n" * 1000)  # as the first copy, which went on: sent anew
        downlink.send_file("logs/run.log", 5)
        assert {b.name for b in mesh.bundles(A, *HOLDING)} == {
            again.name,
            f"_file/{digest}-1/logs/run.log",
        }
        for bad, code in (("../x", d.FailureCode.FILE_NAME_INVALID),
                          ("logs/none", d.FailureCode.FILE_NOT_FOUND)):  # fmt: skip
            with pytest.raises(DownlinkError) as refused:
                downlink.send_file(bad, 5)
            assert refused.value.code == code
    finally:
        mesh.close()


def test_transfers_failing_on_a_link_the_plan_has_up_report_it_unstable_once(tmp_path, result):
    """A laser link that comes and goes while the plan has it up: each transfer over it fails,
    the file is routed again once the neighbour's time out is over, and the third failure
    within half an hour says, once, that the link is unstable."""
    result.write_bytes(os.urandom(3_000_000))  # three seconds of the link's share
    plan = _plan(((A, B), 0, 5000, 8e6), ((B, GROUND_ENTITY), 0, 5000, 64e3))  # a: no pass
    flaps = [(s, s + 1) for s in range(0, SECONDS, 30)]  # up a second in thirty
    mesh = Mesh(tmp_path, up=flaps, plan=plan)
    try:
        mesh.relays[A].hold(result, "job-1/out.bin", 10)
        mesh.run(SECONDS - 10, until=lambda: "LASER_LINK_UNSTABLE" in _names(mesh.events[A]))
        names = _names(mesh.events[A])
        assert names.count("FILE_FORWARD_FAILED") == 3
        [said] = [v for name, v in mesh.events[A] if name == "LASER_LINK_UNSTABLE"]
        assert said == {"neighbour": B, "failures": 3, "window_s": 1800}
        assert mesh.relays[A].custody.in_state(HELD)  # still here, to be routed again
        mesh.run(700)
        assert _names(mesh.events[A]).count("LASER_LINK_UNSTABLE") == 1  # once an hour at most
    finally:
        mesh.close()
