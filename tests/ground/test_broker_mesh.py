"""The fleet job broker over the laser mesh: with the payloads' contact plan, a job placed on a
spacecraft out of contact goes up in a consignment to one in contact when the laser links bring
it there well before its own pass, and results are predicted down by the mesh's routes; one
overtaken on board goes up again. The mesh's predictions on a small plan, a plan that cannot
be read refused in one line, and the whole of it through a real station and real space links
(the test's radios)."""

import asyncio
import json
import math
from dataclasses import replace

import pytest

from flight import dictionary as d
from flight.cfdp.filestore import FileStore
from flight.downlink.service import GROUND_ENTITY
from flight.protocol.messages import decode_command
from flight.protocol.packets import parse_packet
from flight.relay.consignment import read_consignment
from flight.relay.contact_plan import ContactPlan as MeshPlan
from flight.security.keys import load_keys
from flight.security.replay import SecurityState
from flight.security.tc_auth import TRAILER_LEN, TcVerifier
from ground.audit import audit_rows
from ground.broker import Broker, ContactPlan, JobStore
from ground.mesh import Mesh, MeshError
from tests.ground.test_broker import T0, _health, _hk, _job, _record, _Said, _Station
from tests.ground.test_fleet import ALPHA, BETA
from tests.ground.test_relay_uplink import CORPUS, _metadata
from tests.ground.test_station import _request_of

A, B, C = 11, 12, 13
LASER_BPS = 1e6


def _contact(x, y, start, end, rate=LASER_BPS):
    return {"between": [x, y], "start": start, "end": end, "rate_bps": rate, "owlt_s": 0.01}


def _mesh(*contacts, entities=None):
    plan = MeshPlan.parse(json.dumps({"contacts": list(contacts)}).encode())
    return Mesh(plan, entities or {"a": A, "b": B, "c": C})


class _Relayed(_Said):
    """The station's side, carrying consignments too."""

    def __init__(self):
        super().__init__()
        self.relayed = []

    def broker_relay(self, job, carrier):
        self.relayed.append((job.spacecraft, carrier, "SUBMIT_JOB"))
        return (100 + len(self.relayed)).to_bytes(4, "big")


def test_the_mesh_says_when_a_consignment_arrives_and_which_carrier_brings_it_soonest():
    mesh = _mesh(
        _contact(GROUND_ENTITY, B, T0, T0 + 600, 64_000), _contact(GROUND_ENTITY, C, T0, T0 + 600),
        _contact(GROUND_ENTITY, A, T0 + 5000, T0 + 5600),
        _contact(B, A, T0 + 1000, T0 + 1600), _contact(C, B, T0, T0 + 100),
        _contact(C, A, T0 + 2000, T0 + 2600), _contact(GROUND_ENTITY, C, T0 + 2100, T0 + 2700),
    )  # fmt: skip
    assert mesh.across("b", "a", T0, 4096) == pytest.approx(T0 + 1000 + 4096 * 8 / 1e6 + 0.01)
    assert mesh.across("c", "a", T0, 4096) == pytest.approx(T0 + 1000.05, abs=0.1)  # c, b, a
    assert mesh.across("a", "a", T0, 4096) == T0  # it holds it already
    assert mesh.carrier("a", T0, 4096, ["b", "c"])[0] == "b"
    assert mesh.carrier("a", T0, 4096, ["c"])[0] == "c"
    assert mesh.carrier("a", T0 + 1700, 4096, ["b"]) is None  # b's link to a is over
    assert mesh.up("a", T0, 4096) == pytest.approx(T0 + 1000.05, abs=0.1)
    assert mesh.up("a", T0 + 3000, 4096) == pytest.approx(T0 + 5000, abs=0.1)  # its own pass
    # results on a at T0 + 1100 go down by c (a's link to c, then c's pass); later, a's own
    assert mesh.down("a", T0 + 1100, 1 << 16) == pytest.approx(T0 + 2100, abs=2)
    assert mesh.down("a", T0 + 3000, 1 << 16) == pytest.approx(T0 + 5000, abs=2)
    assert mesh.down("b", T0 + 700, 1 << 16) == pytest.approx(T0 + 2100, abs=2)  # b, a, c
    assert mesh.down("b", T0 + 5700, 1 << 16) is None  # no pass and no link after


def test_a_mesh_plan_that_cannot_be_used_is_one_line(tmp_path):
    (tmp_path / "bad.json").write_text('{"contacts": [{"between": [1, 1]}]}')
    for path, words in ((tmp_path / "bad.json", "bad.json: contact plan: contacts\\[0\\]"),
                        (tmp_path / "none.json", "cannot read the mesh plan")):  # fmt: skip
        with pytest.raises(MeshError, match=words):
            Mesh.load(path, {})


def _broker(tmp_path, mesh, plan, healths=None):
    said = _Relayed()
    healths = healths or {"a": _health(), "b": _health()}
    crafts = {n: (lambda h=h: h) for n, h in healths.items()}
    broker = Broker(crafts, JobStore(tmp_path / "b.sqlite"), said, plan=plan, mesh=mesh)
    return broker, said


def test_a_job_for_a_spacecraft_out_of_contact_crosses_the_mesh_only_well_before_its_pass(tmp_path):
    plan = ContactPlan({"a": [(T0 + 5000, T0 + 5600)], "b": [(T0, T0 + 9000)]})
    mesh = _mesh(
        _contact(GROUND_ENTITY, B, T0, T0 + 9000), _contact(GROUND_ENTITY, A, T0 + 5000, T0 + 5600),
        _contact(B, A, T0 + 100, T0 + 1700), _contact(B, A, T0 + 4800, T0 + 4900),
    )  # fmt: skip
    broker, said = _broker(
        tmp_path, mesh, plan, {"a": _health(), "b": _health(governor_mode="THERMAL_LIMITED")}
    )
    broker.heard("a", T0)
    broker.heard("b", T0)
    job = _record("x", 1000)
    a = broker.predict(job, "a")
    assert a.uplink_at == pytest.approx(T0 + 100, abs=1)  # across b, not at its pass
    assert a.ground == pytest.approx(T0 + 1100, abs=2)  # down by b, not at its pass
    placed = broker.submit(_job("x", 1000, deadline=T0 + 2000), "ops")
    assert (placed.spacecraft, placed.state, placed.via) == ("a", "sent", "b")
    assert said.relayed == [("a", "b", "SUBMIT_JOB")] and said.sent == []
    assert said.lines == [
        "fleet job x: sent to a by way of b across the laser links (there in 100 s; its own "
        "next pass: 5000 s)"
    ]
    # overtaken on board by a command up a's own link: it waits, and goes up again
    broker.refused_on_board("a", bytes.fromhex(placed.request_id), "not above", "AUTH_REPLAY")
    assert (placed.state, placed.note) == ("waiting", "overtaken on a: sent again")
    broker.heard("b", T0 + 4750)  # the mesh would be there at T0 + 4800: not 300 s before
    assert len(said.relayed) == 1 and placed.state == "waiting"
    broker.heard("a", T0 + 5001)
    assert (placed.state, placed.via, said.sent) == ("sent", None, [("a", "SUBMIT_JOB")])
    # any other refusal fails it, as for a job sent up its own link
    broker.heard("b", T0 + 5002)
    other = broker.submit(_job("y", 100), "ops")
    assert other.state == "sent" and other.via is None
    request = bytes.fromhex(other.request_id)
    broker.refused_on_board(other.spacecraft, request, "no", "BAD_ARGUMENTS")
    assert other.state == "failed"


def test_without_a_way_across_the_job_waits_for_its_pass_and_a_carrier_heard_later_takes_it(
    tmp_path,
):
    plan = ContactPlan({"a": [(T0 + 9000, T0 + 9600)], "b": [(T0 + 1000, T0 + 1600)]})
    mesh = _mesh(
        _contact(GROUND_ENTITY, B, T0 + 1000, T0 + 1600),
        _contact(GROUND_ENTITY, A, T0 + 9000, T0 + 9600), _contact(B, A, T0 + 2000, T0 + 2600),
    )  # fmt: skip
    broker, said = _broker(tmp_path, mesh, plan, {"a": _health(), "b": _health(safe_mode=1)})
    broker.heard("a", T0)
    broker.heard("b", T0)
    job = broker.submit(_job("z", 100), "ops")
    assert (job.spacecraft, job.state) == ("a", "waiting")  # nobody in contact to carry it
    assert job.predicted_finish == pytest.approx(T0 + 2100, abs=1)  # across b, from b's pass
    broker.heard("b", T0 + 1001)
    assert (job.state, job.via, said.relayed) == ("sent", "b", [("a", "b", "SUBMIT_JOB")])


def test_without_the_mesh_plan_the_broker_waits_for_the_pass(tmp_path):
    plan = ContactPlan({"a": [(T0 + 5000, T0 + 5600)], "b": [(T0, T0 + 9000)]})
    broker, said = _broker(tmp_path, None, plan)
    broker.heard("a", T0)
    broker.heard("b", T0)
    a = broker.predict(_record("x", 1000), "a")
    assert (a.uplink_at, a.ground) == (T0 + 5000, math.inf)
    assert broker.submit(_job("x", 1000), "ops").spacecraft == "b" and said.relayed == []


def test_round_robin_the_baseline_waits_for_its_spacecrafts_own_contact(tmp_path):
    plan = ContactPlan({"a": [(T0 + 5000, T0 + 5600)], "b": [(T0, T0 + 9000)]})
    mesh = _mesh(
        _contact(GROUND_ENTITY, B, T0, T0 + 9000), _contact(GROUND_ENTITY, A, T0 + 5000, T0 + 5600),
        _contact(B, A, T0, T0 + 3000),
    )  # fmt: skip
    said = _Relayed()
    broker = Broker({"a": _health, "b": _health}, JobStore(tmp_path / "b.sqlite"), said,
                    policy="round-robin", plan=plan, mesh=mesh)  # fmt: skip
    broker.heard("a", T0)
    broker.heard("b", T0)
    job = broker.submit(_job("x", 1000), "ops")
    assert (job.spacecraft, job.state, job.predicted_finish) == ("a", "waiting", T0 + 6000)
    broker.heard("b", T0 + 100)
    assert said.relayed == [] and job.state == "waiting"


def _read(tmp_path, craft, name):
    """The consignment the station kept for a spacecraft, read as the payload reads it, and its
    commands (name, arguments), each authenticated under that spacecraft's own keys and in its
    sequence."""
    [kept] = (tmp_path / "state" / craft / "consignments").iterdir()
    read = read_consignment(kept, name, FileStore(tmp_path / f"store-{craft}"))
    verifier = TcVerifier(
        load_keys(tmp_path / craft / "flight.toml"), SecurityState(tmp_path / f"security-{craft}")
    )
    commands = []
    for raw in [read.head, *read.packets]:
        verifier.check(raw)
        tc = parse_packet(raw)
        command, args = decode_command(replace(tc, app_data=tc.app_data[:-TRAILER_LEN]))
        commands.append((command.name, args))
    return read, commands


def test_through_a_station_a_fleet_job_goes_up_the_carriers_link_signed_for_its_spacecraft(
    tmp_path,
):
    contacts = ContactPlan({"alpha": [(T0 + 5000, T0 + 5600)], "beta": [(T0, T0 + 9000)]})
    mesh = _mesh(
        _contact(GROUND_ENTITY, BETA, T0, T0 + 9000),
        _contact(GROUND_ENTITY, ALPHA, T0 + 5000, T0 + 5600), _contact(BETA, ALPHA, T0, T0 + 3000),
        entities={"alpha": ALPHA, "beta": BETA},
    )  # fmt: skip

    async def scenario():
        s = _Station(tmp_path, contacts=contacts, mesh=mesh)
        await s.start()
        await s.down(ALPHA, "HOUSEKEEPING", _hk(link_in_s=5000), T0)  # heard, out of its window
        hot = _hk(governor_mode=int(d.GovernorMode.THERMAL_LIMITED))
        await s.down(BETA, "HOUSEKEEPING", hot, T0)
        seen = {"placed": await s.client.fleet_submit(_job("far", 1000, deadline=T0 + 2500))}
        await s.down(BETA, "HOUSEKEEPING", hot, T0 + 1)  # beta's clock: the uplink's pace
        seen["up beta"] = await _metadata(s, BETA)

        async def audited():  # committed with the archive's next flush
            while not audit_rows(s.station.archive.db, "relay"):
                await asyncio.sleep(0.02)

        await asyncio.wait_for(audited(), 10)
        seen["audited"] = [(r.account, r.peer, r.outcome, r.detail.get("via"))
                           for r in audit_rows(s.station.archive.db, "relay")]  # fmt: skip
        request = bytes.fromhex(seen["placed"]["request_id"])
        seen["archived"] = [(c.name, c.request_id) for c in s.station.archive.commands(ALPHA)]
        replay = {"code": int(d.FailureCode.AUTH_REPLAY), "reason": "overtaken"}
        request_fields = _request_of(request)
        await s.down(ALPHA, "ACCEPTANCE_FAILURE", request_fields | replay, T0 + 4000)
        seen["overtaken"] = {j["job_id"]: j for j in await s.client.fleet_jobs()}["far"]
        await s.down(ALPHA, "HOUSEKEEPING", _hk(), T0 + 5001)
        seen["up alpha"] = (await s.up(ALPHA, "SUBMIT_JOB"))["manifest"]["id"]
        await s.stop()
        seen["said"] = s.said
        return seen

    seen = asyncio.run(scenario())
    job = seen["placed"]
    assert (job["spacecraft"], job["state"], job["via"]) == ("alpha", "sent", "beta")
    assert seen["up beta"].startswith(f"uplink/{ALPHA}/c")
    read, commands = _read(tmp_path, "alpha", seen["up beta"])
    assert [name for name, _ in commands] == ["CONSIGNMENT_ACCEPT", "SUBMIT_JOB"]
    manifest = commands[1][1]["manifest"]
    assert "signature" in manifest and manifest["id"] == "far"
    assert read.packets[0][:4] == bytes.fromhex(job["request_id"])
    assert seen["archived"] == [("SUBMIT_JOB", read.packets[0][:4])]
    assert seen["audited"] == [("ops", "broker", "queued", "beta")]
    said = "fleet job far: sent to alpha by way of beta"
    assert any(line.startswith(said) for line in seen["said"])
    assert (seen["overtaken"]["state"], seen["overtaken"]["note"]) == (
        "waiting", "overtaken on alpha: sent again"
    )  # fmt: skip
    assert seen["up alpha"] == "far"


def test_a_fleet_job_with_an_input_goes_up_with_it_in_one_consignment(tmp_path):
    """``ground fleet submit MANIFEST --file PATH``: the input and the job's SUBMIT_JOB go up
    the placed spacecraft's own link in one consignment, the input placed before the job is
    admitted; a missing input, or --file without submit, is one line."""
    (tmp_path / "corpus.txt").write_bytes(CORPUS)
    manifest = {"id": "train", "command": ["train.py"], "inputs": ["corpus.txt"],
                "expected_runtime_s": 1000}  # fmt: skip
    (tmp_path / "train.json").write_text(json.dumps(manifest))

    async def scenario():
        s = _Station(tmp_path)
        await s.start()
        await s.down(ALPHA, "HOUSEKEEPING", _hk(), T0)
        hot = _hk(governor_mode=int(d.GovernorMode.THERMAL_LIMITED))
        await s.down(BETA, "HOUSEKEEPING", hot, T0)
        seen = {"cli": await s.cli("submit", str(tmp_path / "train.json"), "--file",
                                   f"{tmp_path / 'corpus.txt'}=corpus.txt", "--json")}  # fmt: skip
        await s.down(ALPHA, "HOUSEKEEPING", _hk(), T0 + 1)  # alpha's clock: the uplink's pace
        seen["up alpha"] = await _metadata(s, ALPHA)
        seen["missing"] = await s.cli("submit", str(tmp_path / "train.json"), "--file", "none")
        seen["not submit"] = await s.cli("jobs", "--file", "x")
        await s.stop()
        return seen

    seen = asyncio.run(scenario())
    code, out, err = seen["cli"]
    assert code == 0, err
    job = json.loads(out)
    assert (job["spacecraft"], job["state"], job["via"]) == ("alpha", "sent", "alpha")
    assert job["files"] == [[str(tmp_path / "corpus.txt"), "corpus.txt"]]
    assert job["octets"] == len(CORPUS)
    # on board when its input has gone up at the uplink's rate, not at once
    assert job["predicted_finish"] == pytest.approx(T0 + len(CORPUS) * 8 / 64_000 + 1000, abs=1)
    assert seen["up alpha"].startswith(f"uplink/{ALPHA}/c")
    read, commands = _read(tmp_path, "alpha", seen["up alpha"])
    assert [(name, path.read_bytes()) for name, path in read.files] == [("corpus.txt", CORPUS)]
    assert [name for name, _ in commands] == ["CONSIGNMENT_ACCEPT", "SUBMIT_JOB"]
    code, _, err = seen["missing"]
    assert (code, err.count("\n")) == (2, 1) and "no file" in err
    code, _, err = seen["not submit"]
    assert (code, err.strip()) == (2, "ground fleet: only submit takes --file")
