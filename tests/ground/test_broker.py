"""The fleet job broker: jobs for the fleet placed where they finish by their deadline and come
down soonest, refused in one line where none can, placed again when their spacecraft enters
safe mode or falls behind, and kept across a restart of the station; through a real station
and real space links (the test's radios), and its predictions on their own."""

import asyncio
import contextlib
import json
import math
import re
from dataclasses import replace

import msgpack
import pytest

from flight import dictionary as d
from flight.protocol.framing import MAX_FRAME_LEN
from flight.protocol.messages import decode_command
from flight.protocol.packets import parse_packet
from flight.security.tc_auth import TRAILER_LEN
from ground.accounts.store import AccountStore
from ground.broker import Broker, BrokerError, BrokerJob, ContactPlan, JobStore
from ground.client import CommandRefused, StationClient
from ground.fleet import load_fleet
from ground.station import Station
from tests.ground.accounts import provision
from tests.ground.test_fleet import ALPHA, BETA, fleet_cli, fleet_file
from tests.ground.test_station import Radio, serving

T0 = 1_800_000_000.0  # bus time of the tests' first housekeeping


def _hk(**values):
    """A healthy spacecraft's housekeeping in contact, but ``values``."""
    fields = d.TELEMETRY_BY_NAME["HOUSEKEEPING"].fields
    healthy = {"power_allowance_w": 400.0, "battery_soc": 0.8, "sunlit": 1, "gpu_valid": 1,
               "governor_mode": int(d.GovernorMode.NOMINAL), "link_in_s": 0,
               "eclipse_in_s": 1000, "gpu_temp_c": 50.0, "gpu_power_w": 200.0}  # fmt: skip
    return {f.name: min(f.enum) if f.enum else f.minimum or 0 for f in fields} | healthy | values


def _job(job_id, expected_s=1000.0, deadline=None):
    manifest = {"id": job_id, "simulated": {"work_s": expected_s / 2},
                "expected_runtime_s": expected_s}  # fmt: skip
    return manifest | ({"deadline": deadline} if deadline is not None else {})


class _Station:
    """A station with two spacecraft, alpha and beta, each on its own radio; restartable on
    the same state; ``options`` for the Station (contacts, mesh)."""

    def __init__(self, tmp_path, **options):
        self.tmp_path = tmp_path
        self.options = options  # the Station's: contacts, mesh
        self.radios = {ALPHA: Radio(ALPHA), BETA: Radio(BETA)}
        self.station = self.task = self.address = self.token = self.client = None
        self.seen = None
        self.said = []

    async def start(self):
        ports = [await r.serve() for r in self.radios.values()]
        if self.token is None:
            self.store, tokens = provision(self.tmp_path / "accounts", ops="operator")
            self.token = tokens["ops"]
            self.fleet = fleet_file(self.tmp_path, ports)
        else:  # the same spacecraft and keys, on the radios' new ports
            links = iter(ports)
            text = re.sub(
                r"127\.0\.0\.1:\d+", lambda _: f"127.0.0.1:{next(links)}", self.fleet.read_text()
            )
            self.fleet.write_text(text)
        self.station = Station("", load_fleet(self.fleet), self.tmp_path / "state",
                               accounts=AccountStore(self.store), **self.options)  # fmt: skip
        self.task, self.address = await serving(self.station, self.tmp_path)
        for radio in self.radios.values():
            await asyncio.wait_for(radio.connected.wait(), 10)
        self.client = await StationClient.connect(self.address, self.token)
        await self.client.greeting(10)
        self.seen = self.client.subscribe()
        self.client.station_listeners.append(
            lambda m: self.said.append(m["message"]) if m.get("op") == "broker" else None
        )

    async def stop(self):
        await self.client.close()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        for radio in self.radios.values():
            await radio.close()
        self.station.archive.close()
        self.station.broker.store.close()
        (self.tmp_path / "port").unlink()
        self.radios = {ALPHA: Radio(ALPHA), BETA: Radio(BETA)}

    async def down(self, scid, name, values, t):
        """A packet down from a spacecraft, once the station has taken it in."""
        self.radios[scid].downlink(name, values, time=t)
        while (await asyncio.wait_for(self.seen.get(), 10)).packet.time != t:
            pass

    async def up(self, scid, wanted):
        """The next command of that name up a spacecraft's link, and its arguments."""
        while True:
            raw = await asyncio.wait_for(self.radios[scid].uplinked.get(), 10)
            tc = parse_packet(raw)
            command, args = decode_command(replace(tc, app_data=tc.app_data[:-TRAILER_LEN]))
            if command.name == wanted:
                return args

    async def cli(self, *args):
        """``ground fleet ARGS`` against the station: its exit status, output and errors."""
        return await fleet_cli(self.address, self.token, self.tmp_path, *args)


def test_jobs_go_where_they_finish_soonest_and_one_none_can_finish_is_refused_in_a_line(tmp_path):
    async def scenario():
        s = _Station(tmp_path)
        await s.start()
        await s.down(ALPHA, "HOUSEKEEPING", _hk(), T0)
        await s.down(BETA, "HOUSEKEEPING", _hk(), T0)
        seen = {"first": await s.client.fleet_submit(_job("first", deadline=T0 + 5000))}
        seen["first up"] = await s.up(ALPHA, "SUBMIT_JOB")
        seen["second"] = await s.client.fleet_submit(_job("second", deadline=T0 + 5000))
        seen["second up"] = await s.up(BETA, "SUBMIT_JOB")
        (tmp_path / "late.json").write_text(json.dumps(_job("late", 400, deadline=T0 + 100)))
        seen["late"] = await s.cli("submit", str(tmp_path / "late.json"))
        (tmp_path / "bad.json").write_text(json.dumps({"id": "bad", "simulated": {}}))
        seen["bad"] = await s.cli("submit", str(tmp_path / "bad.json"))
        (tmp_path / "third.json").write_text(json.dumps(_job("third", 100)))
        seen["third"] = await s.cli("submit", str(tmp_path / "third.json"))
        seen["jobs"] = await s.cli("jobs", "--json")
        seen["status"] = await s.cli("status")
        seen["no manifest"] = await s.cli("submit")
        seen["late again"] = await s.client.fleet_submit(_job("late", 400, deadline=T0 + 9000))
        with pytest.raises(CommandRefused, match="already has a job of that id"):
            await s.client.fleet_submit(_job("late", 400))
        with pytest.raises(CommandRefused, match="at: the time of the request"):
            await s.client.fleet_submit(_job("when", 400), at="soon")
        for n in range(30):  # the list outgrows a telecommand's length: still one answer
            await s.client.fleet_submit(_job(f"many-{n}", 10))
        seen["many"] = await asyncio.wait_for(s.client.fleet_jobs(), 10)
        await s.stop()
        return seen

    seen = asyncio.run(scenario())
    assert seen["first"]["spacecraft"] == "alpha" and seen["first"]["state"] == "sent"
    assert seen["first"]["predicted_finish"] == pytest.approx(T0 + 1000)
    assert (
        seen["first up"]["manifest"]["id"] == "first"
        and "signature" in seen["first up"]["manifest"]
    )
    # alpha owes the first job until T0 + 1000: beta finishes the second sooner
    assert (
        seen["second"]["spacecraft"] == "beta" and seen["second up"]["manifest"]["id"] == "second"
    )
    for refused, words in (("late", "no spacecraft can finish it by its deadline"),
                           ("bad", "manifest refused: simulated")):  # fmt: skip
        code, out, err = seen[refused]
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
    code, out, err = seen["third"]
    assert code == 0 and "fleet job third placed on" in out, err
    jobs = {j["job_id"]: j for j in json.loads(seen["jobs"][1])}
    assert jobs["late"]["state"] == "refused" and "deadline" in jobs["late"]["note"]
    assert {jobs[j]["state"] for j in ("first", "second", "third")} == {"sent"}
    assert "bad" not in jobs
    code, out, err = seen["status"]
    assert code == 0 and "fleet job broker (broker placement): 1 refused, 3 sent" in out, err
    assert seen["no manifest"][0] == 2 and "submit takes a MANIFEST" in seen["no manifest"][2]
    # a refused job may come again, with a deadline that can be met; a placed one may not
    assert seen["late again"]["state"] == "sent" and seen["late again"]["placements"] == 1
    assert len(seen["many"]) == 34 and len(msgpack.packb(seen["many"])) > MAX_FRAME_LEN


def test_a_job_moves_off_a_spacecraft_in_safe_mode_and_the_broker_outlives_a_restart(tmp_path):
    async def scenario():
        s = _Station(tmp_path)
        await s.start()
        await s.down(ALPHA, "HOUSEKEEPING", _hk(), T0)
        await s.down(
            BETA, "HOUSEKEEPING", _hk(governor_mode=int(d.GovernorMode.THERMAL_LIMITED)), T0
        )
        seen = {"placed": await s.client.fleet_submit(_job("work", deadline=T0 + 9000))}
        await s.up(ALPHA, "SUBMIT_JOB")
        await s.down(ALPHA, "JOB_QUEUED", {"job_id": "work"}, T0 + 1)
        await s.down(ALPHA, "HOUSEKEEPING", _hk(safe_mode=1), T0 + 100)
        await s.down(BETA, "HOUSEKEEPING", _hk(), T0 + 200)  # the broker looks again
        seen["moved"] = (await s.up(BETA, "SUBMIT_JOB"))["manifest"]["id"]
        await s.down(ALPHA, "HOUSEKEEPING", _hk(safe_mode=1), T0 + 210)
        seen["cancelled"] = (await s.up(ALPHA, "CANCEL_JOB"))["job_id"]
        await s.down(BETA, "JOB_COMPLETED", {"job_id": "work", "runtime_s": 1500.0}, T0 + 1800)
        await s.stop()
        await s.start()
        seen["after restart"] = {j["job_id"]: j for j in await s.client.fleet_jobs()}
        await s.stop()
        seen["said"] = s.said
        return seen

    seen = asyncio.run(scenario())
    assert seen["placed"]["spacecraft"] == "alpha"  # beta, thermally limited, would be slower
    assert seen["moved"] == "work" and seen["cancelled"] == "work"
    assert "fleet job work: alpha entered safe mode; placed again on beta" in seen["said"]
    job = seen["after restart"]["work"]
    assert job["state"] == "completed" and job["completed_on"] == "beta"
    assert job["placements"] == 2 and job["completed_at"] == T0 + 1800


def test_an_overdue_job_is_asked_after_and_moved_when_its_progress_says_it_is_behind(tmp_path):
    async def scenario():
        s = _Station(tmp_path)
        await s.start()
        await s.down(ALPHA, "HOUSEKEEPING", _hk(), T0)
        await s.down(BETA, "HOUSEKEEPING", _hk(), T0)
        await s.client.fleet_submit(_job("slow", 100, deadline=T0 + 3000))
        await s.client.fleet_submit(_job("other", 2000))  # beta owes it: "slow" goes to alpha
        await s.up(ALPHA, "SUBMIT_JOB")
        await s.up(BETA, "SUBMIT_JOB")
        await s.down(BETA, "HOUSEKEEPING", _hk(), T0 + 1700)
        await s.down(ALPHA, "HOUSEKEEPING", _hk(), T0 + 1701)  # overdue: asked after
        seen = {"asked": (await s.up(ALPHA, "REPORT_JOB"))["job_id"]}
        detail = {"id": "slow", "state": "RUNNING", "progress": 0.1, "run_s": 600.0}
        await s.down(ALPHA, "JOB_DETAIL", {"job": detail}, T0 + 1702)
        seen["moved to"] = (await s.up(BETA, "SUBMIT_JOB"))["manifest"]["id"]
        seen["cancelled"] = (await s.up(ALPHA, "CANCEL_JOB"))["job_id"]
        seen["jobs"] = {j["job_id"]: j for j in await s.client.fleet_jobs()}
        await s.stop()
        seen["said"] = s.said
        return seen

    seen = asyncio.run(scenario())
    assert seen["asked"] == "slow" and seen["cancelled"] == "slow"
    assert seen["moved to"] == "slow"
    assert seen["jobs"]["slow"]["spacecraft"] == "beta" and seen["jobs"]["slow"]["placements"] == 2
    assert any(
        "slow: alpha fell behind (10% done); placed again on beta" in s for s in seen["said"]
    )


class _Said:
    """The station's side of the broker, as a record of what it was asked to send and say."""

    def __init__(self):
        self.sent, self.lines = [], []

    def broker_send(self, spacecraft, name, args, account):
        self.sent.append((spacecraft, name))
        return len(self.sent).to_bytes(4, "big")

    def broker_said(self, line):
        self.lines.append(line)


def _health(**values):
    health = {"safe_mode": 0, "governor_mode": "NOMINAL", "link_in_s": 0, "hk_time": T0}
    return health | values


def test_the_contact_plan_decides_where_results_come_down_soonest(tmp_path):
    plan = ContactPlan({
        "a": [(T0, T0 + 600), (T0 + 9000, T0 + 9600)],
        "b": [(T0, T0 + 600), (T0 + 2000, T0 + 2600)],
        "c": [(T0 + 100, T0 + 700)],
    })  # fmt: skip
    crafts = {name: _health for name in ("a", "b", "c")}
    broker = Broker(crafts, JobStore(tmp_path / "b.sqlite"), _Said(), plan=plan)
    for name in crafts:
        broker.heard(name, T0)
    job = _record("x", 1000)
    a, b, c = (broker.predict(job, name) for name in "abc")
    assert (a.finish, a.ground) == (T0 + 1000, T0 + 9000)
    assert (b.finish, b.ground) == (T0 + 1000, T0 + 2000)
    assert (c.uplink_at, c.ground) == (T0 + 100, math.inf)  # no contact after it finishes
    assert broker.submit(_job("x", 1000), "ops").spacecraft == "b"
    assert plan.next_contact("a", T0 + 700) == T0 + 9000 and plan.next_contact("z", T0) is None


def test_learned_slowness_and_heat_lengthen_a_prediction_and_safe_mode_excludes(tmp_path):
    healths = {"fast": _health(), "hot": _health(governor_mode="THERMAL_LIMITED"),
               "safe": _health(safe_mode=1), "gone": _health(governor_mode="NO_GPU")}  # fmt: skip
    broker = Broker({n: (lambda h=h: h) for n, h in healths.items()},
                    JobStore(tmp_path / "b.sqlite"), _Said())  # fmt: skip
    for name in healths:
        broker.heard(name, T0)
    job = _record("y", 1000)
    assert broker.predict(job, "hot").finish == T0 + 1500
    assert broker.predict(job, "safe") == "in safe mode"
    assert broker.predict(job, "gone") == "no GPU"
    placed = broker.submit(_job("z", 1000), "ops")
    broker.job_event("fast", "JOB_COMPLETED", "z", {"runtime_s": 3000.0}, T0 + 3000)
    assert placed.spacecraft == "fast" and broker.jobs["z"].state == "completed"
    assert broker.predict(job, "fast").finish == broker.now + 3000  # its jobs ran 3x longer
    with pytest.raises(BrokerError, match="already has a job of that id"):
        broker.submit(_job("z", 10), "ops")


def test_round_robin_takes_each_spacecraft_in_turn_whatever_its_state(tmp_path):
    healths = {"a": _health(), "b": _health(safe_mode=1), "c": _health()}
    broker = Broker({n: (lambda h=h: h) for n, h in healths.items()},
                    JobStore(tmp_path / "b.sqlite"), _Said(), policy="round-robin")  # fmt: skip
    placed = [broker.submit(_job(f"j{i}", 10), "ops").spacecraft for i in range(4)]
    assert placed == ["a", "b", "c", "a"]
    with pytest.raises(BrokerError, match="placement 'first-fit'"):
        Broker({}, JobStore(tmp_path / "c.sqlite"), _Said(), policy="first-fit")


def _record(job_id, expected_s):
    return BrokerJob(job_id, _job(job_id, expected_s), "ops", None, expected_s, 0.0, T0)


def test_a_contact_plan_that_cannot_be_read_is_one_line(tmp_path):
    (tmp_path / "plan.json").write_text('{"spacecraft": 3}')
    for path, words in ((tmp_path / "plan.json", "not a contact plan"),
                        (tmp_path / "none.json", "cannot read the contact plan")):  # fmt: skip
        with pytest.raises(BrokerError, match=words):
            ContactPlan.load(path)


def test_a_job_leaves_a_spacecraft_silent_through_its_planned_contact(tmp_path):
    plan = ContactPlan({"a": [(T0, T0 + 600)], "b": [(T0, T0 + 9000)]})
    said = _Said()
    broker = Broker({"a": _health, "b": _health}, JobStore(tmp_path / "b.sqlite"), said, plan=plan)
    broker.heard("a", T0)
    broker.heard("b", T0)
    job = broker.submit(_job("quiet", 100, deadline=T0 + 5000), "ops")
    assert (job.spacecraft, job.state) == ("a", "sent")
    broker.heard("b", T0 + 50)  # a, in contact by the plan, not heard for 50 s: still waited for
    assert job.spacecraft == "a"
    broker.heard("b", T0 + 120)
    assert (job.spacecraft, job.state, job.placements) == ("b", "sent", 2)
    assert said.sent == [("a", "SUBMIT_JOB"), ("b", "SUBMIT_JOB")]  # a's cancel waits for it
    assert said.lines == ["fleet job quiet: a is silent in a planned contact; placed again on b"]
    assert broker.cancels == [("a", "quiet")]


def test_a_job_waits_for_the_planned_window_not_only_for_recent_telemetry(tmp_path):
    plan = ContactPlan({"a": [(T0, T0 + 600), (T0 + 5000, T0 + 5600)]})
    said = _Said()
    broker = Broker({"a": _health}, JobStore(tmp_path / "b.sqlite"), said, plan=plan)
    broker.heard("a", T0 + 595)
    job = broker.submit(_job("next-pass", 100), "ops", at=T0 + 605)  # heard 10 s ago, window shut
    assert (job.state, job.predicted_finish, said.sent) == ("waiting", T0 + 5100, [])
    broker.heard("a", T0 + 5001)
    assert job.state == "sent" and said.sent == [("a", "SUBMIT_JOB")]


def test_predictions_follow_the_payloads_priorities_and_keep_placed_jobs_on_time(tmp_path):
    """A payload starts its highest priority first: a job placed ahead of others pushes their
    predicted finishes back, and no job goes where it would make one placed before it late."""
    broker = Broker({"a": _health, "b": _health}, JobStore(tmp_path / "b.sqlite"), _Said())
    for name in "ab":
        broker.heard(name, T0)

    def submit(job_id, expected_s, priority, deadline=None):
        job = broker.submit(_job(job_id, expected_s, deadline) | {"priority": priority}, "ops")
        return job.spacecraft, job.predicted_finish - T0

    assert submit("train", 3000, 50, deadline=T0 + 3500) == ("a", 3000)
    assert submit("infer", 1000, 200) == ("b", 1000)  # on a, it would make train late
    assert submit("batch", 500, 10) == ("b", 1500)  # on a, after train
    assert submit("infer2", 400, 200) == ("a", 400)  # ahead of train, which is still on time
    assert broker.jobs["train"].predicted_finish == T0 + 3400
    job = _record("more", 2500)
    job.manifest["priority"] = 250
    assert broker.predict(job, "a") == "it would make job train late"
    assert broker.predict(job, "b").finish == T0 + 2500  # before infer and batch, both undated
    for name in "ab":
        broker.crafts[name].health = lambda: _health(safe_mode=1)
    with pytest.raises(BrokerError) as refused:
        broker.submit(_job("later", 100), "ops")
    assert str(refused.value) == "job later: no spacecraft can take it (a, b: in safe mode)"


def test_a_job_that_cannot_checkpoint_needs_an_orbits_unbroken_power(tmp_path):
    """With the spacecraft's sunlit stretches, a job that cannot checkpoint is predicted to
    run from a sunrise when it would not finish before the next (the power breaks there once an
    orbit), and one longer than any orbit is refused in one line; with a checkpoint it is not."""
    orbits = [(T0 + k * 6000, T0 + k * 6000 + 4000) for k in range(-1, 8)]
    (tmp_path / "plan.json").write_text(
        json.dumps({"spacecraft": {"a": [(T0, T0 + 50_000)]}, "sunlit": {"a": orbits}})
    )
    plan = ContactPlan.load(tmp_path / "plan.json")
    assert plan.unbroken("a", T0 + 1000, 4000) == T0 + 5000  # before the sunrise at T0 + 6000
    assert plan.unbroken("a", T0 + 3000, 4000) == T0 + 10_000  # again from that sunrise
    assert plan.unbroken("a", T0, 6500) == math.inf
    assert plan.unbroken("b", T0, 6500) == T0 + 6500  # its sunlight not known
    broker = Broker({"a": _health}, JobStore(tmp_path / "b.sqlite"), _Said(), plan=plan)
    broker.heard("a", T0)
    assert broker.submit(_job("first", 3000), "ops").predicted_finish == T0 + 3000
    second = broker.submit(_job("second", 4000) | {"time_limit_s": 20_000}, "ops")
    assert second.predicted_finish == T0 + 10_000  # after first, from the sunrise
    long = _job("train", 10_800) | {"time_limit_s": 20_000}
    with pytest.raises(BrokerError) as refused:
        broker.submit(long, "ops")
    assert str(refused.value) == (
        "job train: no spacecraft can take it (a: it cannot checkpoint, and its 10800 s need "
        "power without a break for longer than an orbit)"
    )
    checkpointed = long | {"checkpoint": {"interval_s": 600, "cost_s": 10}}
    assert broker.submit(checkpointed, "ops").predicted_finish == T0 + 20_800  # after both
    (tmp_path / "bad.json").write_text('{"spacecraft": {}, "sunlit": {"a": [[1]]}}')
    with pytest.raises(BrokerError, match="not a contact plan"):
        ContactPlan.load(tmp_path / "bad.json")
