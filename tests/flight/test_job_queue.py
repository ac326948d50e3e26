"""The persistent queue and the job commands, over a real pty, in lockstep: submit, hold,
release, reprioritise, cancel, list, detail; every rejection's failure code; restarts."""

import msgpack
import pytest

from flight import dictionary as d
from flight.security.keys import JOB_KEY_ID
from flight.dictionary import JobState

F = d.FailureCode


def names(tms):
    return [t.name for t in tms]


def events(tms):
    return [(t.name, t.values) for t in tms if t.event is not None]


def failure(tms):
    (report,) = [t for t in tms if t.name in ("ACCEPTANCE_FAILURE", "COMPLETION_FAILURE")]
    return F(report.values["code"]), report.values["reason"]


def submit(payload, job_id, exe="ok", **manifest):
    return payload.command("SUBMIT_JOB", {"manifest": {"id": job_id, "command": [exe]} | manifest})


def started(tms):
    return [v["job_id"] for n, v in events(tms) if n == "JOB_STARTED"]


def test_jobs_start_by_priority_then_deadline_then_age(payload):
    payload.install_job("ok", "sleep 30\n")
    payload.tick()
    submit(payload, "low", priority=10)
    submit(payload, "late", deadline=payload.time + 9000)
    submit(payload, "soon", deadline=payload.time + 5000)
    submit(payload, "plain")
    submit(payload, "high", priority=200)
    order = []
    for _ in range(5):
        order += started(payload.tick())
        payload.command("CANCEL_JOB", {"job_id": order[-1]})
        payload.ctl.runner.running.process.wait(30)
    assert order == ["high", "soon", "late", "plain", "low"]


def test_hold_release_reprioritise_and_detail(payload):
    payload.install_job("ok", "exit 0\n")
    submit(payload, "a")
    submit(payload, "b")
    tms = payload.command("HOLD_JOB", {"job_id": "a"})
    assert names(tms) == ["ACCEPTANCE_SUCCESS", "JOB_HELD", "COMPLETION_SUCCESS"]
    hk = payload.tick()[-1].values
    assert hk["jobs_held"] == 1 and started([]) == []
    assert payload.ctl.runner.running.rec.id == "b"
    code, reason = failure(payload.command("HOLD_JOB", {"job_id": "b"}))
    assert code is F.JOB_STATE_CONFLICT and "RUNNING" in reason
    tms = payload.command("REPRIORITISE_JOB", {"job_id": "a", "priority": 7})
    assert ("JOB_REPRIORITISED", {"priority": 7, "job_id": "a"}) in events(tms)
    assert names(payload.command("RELEASE_JOB", {"job_id": "a"}))[1] == "JOB_RELEASED"
    (detail,) = [
        t for t in payload.command("REPORT_JOB", {"job_id": "a"}) if t.name == "JOB_DETAIL"
    ]
    job = detail.values["job"]
    assert job["state"] == "QUEUED" and job["priority"] == 7 and job["attempts"] == 0
    manifest = job["manifest"]
    assert manifest.pop("signature")["key"] == JOB_KEY_ID  # kept: who signed it
    assert manifest == {"id": "a", "command": ["ok"]}


def test_unknown_job_and_conflicts_have_their_own_codes(payload):
    for command in ("CANCEL_JOB", "HOLD_JOB", "RELEASE_JOB", "REPORT_JOB"):
        assert failure(payload.command(command, {"job_id": "nope"}))[0] is F.JOB_UNKNOWN
    payload.install_job("ok", "exit 0\n")
    submit(payload, "x")
    assert failure(payload.command("RELEASE_JOB", {"job_id": "x"}))[0] is F.JOB_STATE_CONFLICT
    payload.command("CANCEL_JOB", {"job_id": "x"})
    code, reason = failure(payload.command("CANCEL_JOB", {"job_id": "x"}))
    assert code is F.JOB_STATE_CONFLICT and "CANCELLED" in reason
    assert payload.ctl.counters.tc_failed == 2 and payload.ctl.counters.tc_rejected == 4


def test_cancel_a_queued_and_a_running_job(payload):
    payload.install_job("ok", "exec sleep 600\n")
    submit(payload, "run")
    submit(payload, "wait")
    payload.tick()
    tms = payload.command("CANCEL_JOB", {"job_id": "wait"})
    assert ("JOB_CANCELLED", {"job_id": "wait"}) in events(tms)
    assert events(payload.command("CANCEL_JOB", {"job_id": "run"})) == []  # SIGTERM sent
    payload.wait_job_process("run")
    assert events(payload.tick()) == [("JOB_CANCELLED", {"job_id": "run"})]
    assert payload.ctl.runner.jobs["run"].rec.exit_code == -15


@pytest.mark.parametrize(
    ("manifest", "code", "words"),
    [
        (
            {"id": "m", "command": ["ok"], "simulated": {"work_s": 5}},
            F.MANIFEST_CONTRADICTORY,
            "exactly one",
        ),
        ({"id": "m"}, F.MANIFEST_CONTRADICTORY, "exactly one"),
        (
            {"id": "m", "command": ["ok"], "expected_runtime_s": 100, "time_limit_s": 50},
            F.MANIFEST_CONTRADICTORY,
            "longer than time_limit_s",
        ),
        (
            {"id": "m", "command": ["ok"], "checkpoint": {"interval_s": 10, "cost_s": 20}},
            F.MANIFEST_CONTRADICTORY,
            "cost_s",
        ),
        (
            {"id": "m", "command": ["ok"], "results": [{"path": "a"}, {"path": "a"}]},
            F.MANIFEST_CONTRADICTORY,
            "named twice",
        ),
        ({"id": "m", "command": ["ok"], "priority": 300}, F.MANIFEST_INVALID, "priority"),
        (
            {"id": "m", "command": ["ok"], "inputs": ["../etc/passwd"]},
            F.MANIFEST_INVALID,
            "inputs[0]",
        ),
        (
            {"id": "m", "command": ["ok"], "results": [{"path": "/abs"}]},
            F.MANIFEST_INVALID,
            "results[0].path",
        ),
        ({"id": "m", "command": ["ok"], "deadline": -5}, F.MANIFEST_INVALID, "deadline"),
        ({"id": "m", "command": ["ok"], "max_retries": 9}, F.MANIFEST_INVALID, "max_retries"),
        (
            {"id": "m", "command": ["ok"], "checkpoint": {"every": 3}},
            F.MANIFEST_INVALID,
            "checkpoint",
        ),
        (
            {"id": "m", "command": ["ok"], "gpu_memory_mib": 1.5},
            F.MANIFEST_INVALID,
            "gpu_memory_mib",
        ),
        ({"id": "m", "command": ["ok"], "owner": ""}, F.MANIFEST_INVALID, "owner"),
        ({"id": "m", "command": ["ok"], "env": {"A": "x" * 3500}}, F.MANIFEST_TOO_LARGE, "3072"),
        ({"id": "m", "simulated": {"work_s": 5}}, F.MANIFEST_CONTRADICTORY, "simulated GPU"),
        ({"id": "m", "command": ["ok"], "inputs": ["data/x.npy"]}, F.INPUT_NOT_FOUND, "data/x.npy"),
        ({"id": "m", "command": ["ok"], "gpu_memory_mib": 100_000}, F.GPU_MEMORY_EXCEEDED, "81559"),
        (
            {"id": "m", "command": ["ok"], "deadline": 1_767_225_700, "expected_runtime_s": 600},
            F.DEADLINE_UNREACHABLE,
            "deadline",
        ),
    ],
)
def test_each_bad_manifest_is_refused_with_its_code(payload, manifest, code, words):
    payload.install_job("ok", "exit 0\n")
    payload.tick()
    tms = payload.command("SUBMIT_JOB", {"manifest": manifest})
    got, reason = failure(tms)
    assert got is code and words in reason, reason
    assert payload.ctl.runner.jobs == {}
    manifest_codes = (F.MANIFEST_INVALID, F.MANIFEST_CONTRADICTORY, F.MANIFEST_TOO_LARGE)
    assert payload.ctl.counters.manifests_rejected == (code in manifest_codes)


def test_a_valid_manifest_with_every_key(payload):
    payload.install_job("ok", "exit 0\n")
    (payload.state_dir / "files" / "data").mkdir(parents=True)
    (payload.state_dir / "files" / "data" / "x.npy").write_bytes(b"input")
    payload.tick()
    manifest = {
        "id": "full",
        "owner": "ops@ground",
        "command": ["ok", "--epochs", "3"],
        "inputs": ["data/x.npy"],
        "gpu_memory_mib": 40_000,
        "expected_runtime_s": 60,
        "expected_energy_j": 30_000,
        "priority": 150,
        "deadline": payload.time + 3600,
        "time_limit_s": 120,
        "max_retries": 2,
        "checkpoint": {"interval_s": 30, "cost_s": 2},
        "results": [{"path": "model.npz", "priority": 1}],
        "env": {"SEED": "7"},
    }
    tms = payload.command("SUBMIT_JOB", {"manifest": manifest})
    assert names(tms) == ["ACCEPTANCE_SUCCESS", "JOB_QUEUED", "COMPLETION_SUCCESS"]
    assert payload.ctl.runner.jobs["full"].spec.checkpoint.interval_s == 30


def test_queue_survives_a_restart_in_its_sqlite_file(payload):
    payload.install_job("ok", "exit 0\n")
    submit(payload, "one", priority=5)
    submit(payload, "two")
    payload.command("HOLD_JOB", {"job_id": "two"})
    payload.restart()
    jobs = {j.rec.id: j for j in payload.ctl.runner.jobs.values()}
    assert jobs["one"].state is JobState.QUEUED and jobs["one"].rec.priority == 5
    assert jobs["two"].state is JobState.HELD
    code, _ = failure(submit(payload, "one"))
    assert code is F.JOB_DUPLICATE


def test_a_full_disk_refuses_the_command_and_changes_nothing(payload):
    payload.install_job("ok", "exit 0\n")
    submit(payload, "first")
    db = payload.ctl.runner.store._db
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    db.execute(f"PRAGMA max_page_count={pages}")  # SQLite now answers SQLITE_FULL
    big = {"env": {f"V{i}": "x" * 100 for i in range(20)}}
    for n in range(10):
        tms = submit(payload, f"big-{n}", **big)
        if "COMPLETION_FAILURE" in names(tms):
            break
    code, reason = failure(tms)
    assert code is F.STORE_FAILURE and "full" in reason
    assert f"big-{n}" not in payload.ctl.runner.jobs and "first" in payload.ctl.runner.jobs
    db.execute("PRAGMA query_only=1")  # every write now fails (SQLITE_READONLY)
    for command in ("CANCEL_JOB", "HOLD_JOB"):
        code, _ = failure(payload.command(command, {"job_id": "first"}))
        assert code is F.STORE_FAILURE
        assert payload.ctl.runner.jobs["first"].state is JobState.QUEUED
    db.execute("PRAGMA query_only=0")
    assert names(payload.command("PING"))[1] == "PING_REPORT"
    db.execute("PRAGMA max_page_count=1000000")
    assert names(submit(payload, f"big-{n}", **big))[1] == "JOB_QUEUED"  # nothing half-done


def test_queue_full(payload):
    payload.install_job("ok", "exit 0\n")
    payload.ctl.runner.queue.max_queue = 2
    submit(payload, "a")
    submit(payload, "b")
    assert failure(submit(payload, "c"))[0] is F.QUEUE_FULL


def test_manifest_stored_is_the_one_accepted(payload):
    payload.install_job("ok", "exit 0\n")
    submit(payload, "kept", priority=3)
    raw = payload.ctl.runner.store._db.execute("SELECT manifest FROM jobs").fetchone()[0]
    stored = msgpack.unpackb(raw)
    assert "ed25519" in stored.pop("signature")
    assert stored == {"id": "kept", "command": ["ok"], "priority": 3}


def test_a_long_job_list_comes_in_pages_that_fit_the_mtu(payload):
    payload.install_job("ok", "exit 0\n")
    for i in range(64):
        submit(payload, f"job-with-a-long-name-{i:03d}", priority=i % 7)
    lists = [t for t in payload.command("REPORT_JOBS") if t.name == "JOB_LIST"]
    assert len(lists) >= 2
    assert [t.values["page"] for t in lists] == list(range(len(lists)))
    assert {t.values["pages"] for t in lists} == {len(lists)}
    ids = [j["id"] for t in lists for j in t.values["jobs"]]
    assert sorted(ids) == sorted(f"job-with-a-long-name-{i:03d}" for i in range(64))


def test_a_store_that_cannot_record_a_start_leaves_the_job_queued(payload):
    payload.install_job("ok", "exit 0\n")
    submit(payload, "s")
    db = payload.ctl.runner.store._db
    db.execute("PRAGMA query_only=1")
    for first in (True, False):  # a third store error in the hour would mean safe mode
        tms = payload.tick()
        synced = ["TIME_SYNCHRONISED"] if first else []  # the first tick sets the time
        # STORE_ERROR is throttled (60 s): the repeat a second later is counted, not sent
        assert names(tms) == [*synced, "STORE_ERROR"] * first + ["HOUSEKEEPING"]
        assert payload.ctl.runner.jobs["s"].state is JobState.QUEUED
        assert payload.ctl.runner.running is None
    db.execute("PRAGMA query_only=0")
    assert "JOB_STARTED" in names(payload.tick())
    assert payload.ctl.runner.jobs["s"].rec.attempts == 1
    # it stopped: its repeat is summed up once a throttle (60 s) has passed
    later = [t for _ in range(61) for t in payload.tick()]
    summaries = [t.values for t in later if t.name == "EVENT_REPEATED"]
    assert [(v["event"], v["repeats"]) for v in summaries] == [("STORE_ERROR", 1)]
