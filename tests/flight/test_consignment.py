"""Consignments: what the ground sends a satellite out of its contact by way of the mesh. A
consignment's files reach the file store only when its signed head names them; its commands
then run through the same admission as the link's, so one delivered twice runs once, a file
changed on the way places nothing, and a malformed one is refused in one event. Across two
real relays and the bench's laser terminals it goes from the satellite the ground reached to
the one it is for, never back down."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight import dictionary as d
from flight.cfdp.filestore import FileStore
from flight.downlink.service import GROUND_ENTITY
from flight.links.laser import LaserLink
from flight.relay.consignment import (
    ConsignmentError,
    consignment_name,
    files_sha256,
    parse_consignment_name,
    read_consignment,
    write_consignment,
)
from flight.relay.custody import DELIVERED, FORWARDED
from hil.isl_relay import IslRelay
from hil.models.isl import IslConfig, Topology
from tests.flight.conftest import START, PayloadHarness, bus_tick_args
from tests.flight.test_controller_commands import failure
from tests.flight.test_relay import A, B, Mesh, _plan

JOB = {"id": "train-1", "command": ["job.sh"], "inputs": ["corpus.txt"]}


@pytest.fixture
def lasered(tmp_path):
    """A payload with a laser terminal, as satellite A."""
    isl = IslRelay(Topology(["a"], [np.zeros((10, 3))]), [A], IslConfig(), seed=1, start=START)
    isl.open()
    payload = PayloadHarness(tmp_path / "state", laser=LaserLink(isl.url(0)), entity_id=A)
    payload.install_job("job.sh", "cat corpus.txt > /dev/null\n")
    yield payload
    payload.close()
    isl.close()


def _consign(payload, tmp_path, ident, files, commands, head_files=None):
    """A consignment for ``payload`` uplinked to it (as the ground's CFDP entity delivers one):
    its files (name on board, octets), its commands signed after its head."""
    local = []
    for i, (name, octets) in enumerate(files):
        path = tmp_path / f"local-{ident}-{i}"
        path.write_bytes(octets)
        local.append((name, path))
    signed = head_files if head_files is not None else local
    head = payload.tc(
        "CONSIGNMENT_ACCEPT", {"files": len(signed), "files_sha256": files_sha256(signed)}
    )
    packets = [payload.tc(name, args) for name, args in commands]
    name = consignment_name(A, ident)
    path = payload.state_dir / "files" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_consignment(path, head, local, packets)
    return name, path


def _deliver(payload, name, path):
    payload.ctl.board.relay.carry(path, name)
    return payload.tick()


def _event(tms, name):
    [event] = [t.values for t in tms if t.name == name]
    return event


def test_a_consignment_places_its_files_then_runs_its_commands(lasered, tmp_path):
    corpus = b"to be or not to be\n" * 100
    name, path = _consign(lasered, tmp_path, "c1", [("corpus.txt", corpus)],
                          [("SUBMIT_JOB", {"manifest": JOB}), ("PING", None)])  # fmt: skip
    tms = _deliver(lasered, name, path)
    names = [t.name for t in tms]
    assert names.count("COMPLETION_SUCCESS") == 3  # the head, SUBMIT_JOB, PING
    assert "PING_REPORT" in names and "JOB_QUEUED" in names
    assert (lasered.state_dir / "files" / "corpus.txt").read_bytes() == corpus
    delivered = _event(tms, "CONSIGNMENT_DELIVERED")
    assert delivered == {"name": name, "accepted": 1, "files": 1, "commands": 2}
    assert not path.exists()  # done with: nothing left to route
    [bundle] = lasered.ctl.board.relay.custody.in_state(DELIVERED)
    assert (bundle.origin, bundle.name) == (GROUND_ENTITY, name)
    assert "CONSIGNMENT_DELIVERED" not in [t.name for t in lasered.tick()]  # once


def test_a_file_changed_on_the_way_places_nothing_and_runs_nothing(lasered, tmp_path):
    signed_for = tmp_path / "signed-for"
    signed_for.write_bytes(b"the real corpus")
    name, path = _consign(lasered, tmp_path, "c2", [("corpus.txt", b"a forged corpus")],
                          [("SUBMIT_JOB", {"manifest": JOB})],
                          head_files=[("corpus.txt", signed_for)])  # fmt: skip
    tms = _deliver(lasered, name, path)
    code, reason = failure(tms, "ACCEPTANCE_FAILURE")
    assert code is d.FailureCode.CONSIGNMENT_INVALID and "not the ones" in reason
    assert not (lasered.state_dir / "files" / "corpus.txt").exists()
    assert "JOB_QUEUED" not in [t.name for t in tms]
    assert _event(tms, "CONSIGNMENT_DELIVERED") == {
        "name": name, "accepted": 0, "files": 0, "commands": 0,
    }  # fmt: skip
    assert not list((lasered.state_dir / "files" / ".partial").iterdir())


def test_a_consignment_delivered_again_runs_nothing_twice(lasered, tmp_path):
    name, path = _consign(lasered, tmp_path, "c3", [("a.txt", b"first")], [("PING", None)])
    first = path.read_bytes()
    assert _event(_deliver(lasered, name, path), "CONSIGNMENT_DELIVERED")["accepted"] == 1
    (lasered.state_dir / "files" / "a.txt").write_bytes(b"changed on board since")
    again = path.with_name("c3-again")  # the same octets under another name: a replay
    again.write_bytes(first)
    tms = _deliver(lasered, consignment_name(A, "c3-again"), again)
    code, _ = failure(tms, "ACCEPTANCE_FAILURE")
    assert code is d.FailureCode.AUTH_REPLAY
    assert "PING_REPORT" not in [t.name for t in tms]
    assert (lasered.state_dir / "files" / "a.txt").read_bytes() == b"changed on board since"
    assert _event(tms, "CONSIGNMENT_DELIVERED")["accepted"] == 0


def test_a_malformed_consignment_is_refused_in_one_event(lasered, tmp_path):
    name, path = _consign(lasered, tmp_path, "c4", [("../escape", b"x")], [("PING", None)])
    tms = _deliver(lasered, name, path)
    refused = _event(tms, "CONSIGNMENT_REFUSED")
    assert refused["name"] == name and "leaves the file store" in refused["reason"]
    assert "PING_REPORT" not in [t.name for t in tms]
    assert not path.exists()
    name, path = _consign(lasered, tmp_path, "c5", [("ok.txt", b"y" * 100)], [])
    path.write_bytes(path.read_bytes()[:-10])  # cut short
    assert "ends inside" in _event(_deliver(lasered, name, path), "CONSIGNMENT_REFUSED")["reason"]
    assert not (lasered.state_dir / "files" / "ok.txt").exists()


def test_a_head_outside_a_consignment_and_a_bus_command_inside_one_are_refused(lasered, tmp_path):
    args = {"files": 0, "files_sha256": files_sha256([])}
    code, reason = failure(lasered.command("CONSIGNMENT_ACCEPT", args))
    assert code is d.FailureCode.CONSIGNMENT_INVALID and "consignment's head" in reason
    name, path = _consign(lasered, tmp_path, "c6", [], [])
    lasered.time += 1
    outer = lasered.tc("BUS_TICK", bus_tick_args(lasered.time), source=d.SOURCE_BUS, ack=0)
    inner = lasered.tc("BUS_TICK", bus_tick_args(START + 99), source=d.SOURCE_BUS)  # signed later
    path.write_bytes(path.read_bytes() + b"P" + len(inner).to_bytes(2, "big") + inner)
    lasered.ctl.board.relay.carry(path, name)
    tms = lasered.send(outer)
    code, reason = failure(tms, "ACCEPTANCE_FAILURE")
    assert code is d.FailureCode.WRONG_SOURCE and "only ground" in reason
    assert lasered.ctl.clock.time == lasered.time  # the tick inside did not run


def test_a_consignment_crosses_the_mesh_to_the_satellite_it_is_for(tmp_path):
    # a's pass is now; b has none in the plan: only the laser link reaches it
    plan = _plan(((A, B), 0, 1000, 8e6), ((A, GROUND_ENTITY), 0, 600, 64e3))
    mesh = Mesh(tmp_path, up=[(0, 1000)], plan=plan, passes={A: [(0, 600)]})
    try:
        body = tmp_path / "corpus.txt"
        body.write_bytes(b"x" * 50_000)
        uplinked = mesh.dirs[A] / "files" / consignment_name(B, "c8")
        uplinked.parent.mkdir(parents=True)
        write_consignment(uplinked, b"head", [("corpus.txt", body)], [])
        mesh.relays[A].carry(uplinked, consignment_name(B, "c8"))
        mesh.run(60, until=lambda: bool(mesh.relays[B].deliveries))
        [forwarded] = mesh.bundles(A, FORWARDED)
        assert (forwarded.hop, forwarded.name) == (B, "uplink/162/c8")
        assert not uplinked.exists()  # custody passed: a's copy is gone
        [arrived] = mesh.relays[B].deliveries
        assert (arrived.name, arrived.head) == ("uplink/162/c8", b"head")
        [(name, staged)] = arrived.files
        assert name == "corpus.txt" and staged.read_bytes() == body.read_bytes()
        assert not mesh.relays[A].downlink.entity.senders  # never down to the ground
        mesh.relays[B].delivered(arrived)
        assert [b.name for b in mesh.bundles(B, DELIVERED)] == ["uplink/162/c8"]
        assert not (mesh.dirs[B] / "relay" / "store" / "uplink" / "162" / "c8").exists()
    finally:
        mesh.close()


def test_a_consignment_with_no_way_to_its_satellite_waits_held_across_a_restart(tmp_path):
    plan = _plan(((A, GROUND_ENTITY), 0, 600, 64e3))  # no laser contact in the plan
    mesh = Mesh(tmp_path, up=[(0, 1000)], plan=plan, passes={A: [(0, 600)]})
    try:
        uplinked = mesh.dirs[A] / "files" / consignment_name(B, "c9")
        uplinked.parent.mkdir(parents=True)
        write_consignment(uplinked, b"head", [], [])
        mesh.relays[A].carry(uplinked, consignment_name(B, "c9"))
        mesh.run(30)
        [held] = mesh.relays[A].custody.in_state("held")
        assert held.name == "uplink/162/c9"
        assert not mesh.relays[A].downlink.entity.senders and not mesh.relays[A].entity.senders
        mesh.stop(A)
        later = mesh.dirs[A] / "files" / consignment_name(B, "c10")
        write_consignment(later, b"head", [], [])  # delivered whole just before the restart
        mesh.start(A)  # a restart keeps the one, and takes the other
        held = [b.name for b in mesh.relays[A].custody.in_state("held")]
        assert held == ["uplink/162/c10", "uplink/162/c9"]
        assert not mesh.relays[A].started  # the ground's, not a neighbour's: no FILE_TAKEN
    finally:
        mesh.close()


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("uplink/162/c1", (162, "c1")),
        ("uplink/162/c1.x_y-z", (162, "c1.x_y-z")),
        ("uplink/65536/c1", None),
        ("uplink/162/../c1", None),
        ("uplink/162", None),
        ("uplink/x/c1", None),
        ("uplink/162/.c1", None),
        ("relay/162/c1", None),
        ("uplink/162/c1/more", None),
    ],
)
def test_a_consignment_is_known_by_its_name(name, parsed):
    assert parse_consignment_name(name) == parsed


@given(data=st.binary(max_size=600))
def test_any_bytes_read_as_a_consignment_or_refused_in_one_line(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("c")
    store = FileStore(root / "files")
    path = root / "consignment"
    path.write_bytes(data)
    try:
        consignment = read_consignment(path, "uplink/1/c", store)
    except ConsignmentError as exc:
        assert "\n" not in str(exc)
        assert not list((root / "files" / ".partial").iterdir())
        return
    assert len(consignment.files) <= 32 and len(consignment.packets) <= 64
    for _, staged in consignment.files:
        assert staged.is_relative_to(store.root)


def test_the_ground_and_the_payload_agree_on_a_consignment(tmp_path):
    local = [(f"in/{i}.bin", tmp_path / f"{i}.bin") for i in range(3)]
    for i, (_, path) in enumerate(local):
        path.write_bytes(bytes([i]) * (i * 1000))
    out = tmp_path / "c"
    write_consignment(out, b"the head", local, [b"one", b"two"])
    read = read_consignment(out, "uplink/1/c", FileStore(tmp_path / "store"))
    assert read.files_sha256 == files_sha256(local)
    assert [n for n, _ in read.files] == [n for n, _ in local]
    assert [p.read_bytes() for _, p in read.files] == [p.read_bytes() for _, p in local]
    assert (read.head, read.packets) == (b"the head", [b"one", b"two"])


def test_a_defect_running_a_consignment_is_counted_and_the_tick_still_answered(
    lasered, tmp_path, monkeypatch
):
    def defect(*_):
        raise RuntimeError("a defect")

    monkeypatch.setattr("flight.controller.run_consignment", defect)
    name, path = _consign(lasered, tmp_path, "c11", [], [("PING", None)])
    tms = _deliver(lasered, name, path)
    [hk] = [t.values for t in tms if t.name == "HOUSEKEEPING"]
    assert hk["internal_errors"] == 1
    assert not lasered.ctl.board.relay.deliveries
