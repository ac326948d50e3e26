"""Jobs run as real processes, supervised in bus time: the test is the clock (lockstep)."""

import time

from flight.dictionary import JobState


def wait_for_file(path, timeout=30.0):
    """Block until a job has reached a point it marks with a file."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def submit(payload, job_id, exe, limit=60, args=()):
    tms = payload.command(
        "SUBMIT_JOB", {"manifest": {"id": job_id, "command": [exe, *args], "time_limit_s": limit}}
    )
    assert [t.name for t in tms] == ["ACCEPTANCE_SUCCESS", "JOB_QUEUED", "COMPLETION_SUCCESS"]


def events(tms):
    return [(t.name, t.values) for t in tms if t.event is not None]


def test_job_runs_to_completion_with_output_captured(payload):
    payload.install_job("hello", 'echo "hello $JOB_ID $1"; echo oops >&2; echo 42 > result.txt\n')
    payload.tick()
    submit(payload, "j1", "hello", args=["world"])
    started = events(payload.tick())
    assert started[0][0] == "JOB_STARTED" and started[0][1]["job_id"] == "j1"
    payload.wait_job_process("j1")
    tms = payload.tick()
    assert events(tms) == [("JOB_COMPLETED", {"job_id": "j1", "runtime_s": 1.0})]
    hk = tms[-1].values
    assert hk["jobs_completed"] == 1 and hk["job_state"] == JobState.COMPLETED
    workdir = payload.state_dir / "jobs" / "j1"
    assert (workdir / "stdout.log").read_text() == "hello j1 world\n"
    assert (workdir / "stderr.log").read_text() == "oops\n"
    assert (workdir / "result.txt").read_text() == "42\n"


def test_failing_job_reports_its_exit_status(payload):
    payload.install_job("bad", "exit 3\n")
    submit(payload, "j2", "bad")
    payload.tick()
    payload.wait_job_process("j2")
    assert events(payload.tick()) == [
        ("JOB_FAILED", {"job_id": "j2", "exit_code": 3, "runtime_s": 1.0})
    ]
    assert payload.ctl.runner.failed == 1


def test_jobs_run_one_at_a_time_in_order(payload):
    payload.install_job("ok", "exit 0\n")
    submit(payload, "a", "ok")
    submit(payload, "b", "ok")
    tms = payload.tick()
    assert [v["job_id"] for n, v in events(tms) if n == "JOB_STARTED"] == ["a"]
    assert tms[-1].values["jobs_queued"] == 1
    payload.wait_job_process("a")
    assert [n for n, _ in events(payload.tick())] == ["JOB_COMPLETED", "JOB_STARTED"]
    payload.wait_job_process("b")
    assert [n for n, _ in events(payload.tick())] == ["JOB_COMPLETED"]


def test_time_limit_stops_the_job_with_sigterm(payload):
    payload.install_job("slow", "exec sleep 600\n")
    submit(payload, "slow-1", "slow", limit=3)
    payload.tick()  # starts at t=1
    for _ in range(3):
        assert events(payload.tick()) == []
    payload.tick()  # runtime 4 s > 3 s: SIGTERM
    payload.wait_job_process("slow-1")
    assert events(payload.tick()) == [("JOB_TIMED_OUT", {"job_id": "slow-1", "runtime_s": 5.0})]
    assert payload.ctl.runner.jobs["slow-1"].rec.exit_code == -15


def test_job_ignoring_sigterm_is_killed_after_the_grace_period(payload):
    payload.install_job("stubborn", "trap '' TERM\ntouch trapped\nwhile :; do sleep 1; done\n")
    submit(payload, "st", "stubborn", limit=1)
    payload.tick()
    wait_for_file(payload.state_dir / "jobs" / "st" / "trapped")
    payload.tick()
    payload.tick()  # SIGTERM, ignored
    job = payload.ctl.runner.jobs["st"]
    for _ in range(9):
        payload.tick()
        assert job.process.poll() is None
    payload.tick()  # grace period over: SIGKILL
    payload.wait_job_process("st")
    assert events(payload.tick())[0][0] == "JOB_TIMED_OUT"
    assert job.rec.exit_code == -9


def test_job_list_report(payload):
    payload.install_job("ok", "exit 0\n")
    submit(payload, "listed", "ok")
    tms = payload.command("REPORT_JOBS")
    report = [t for t in tms if t.name == "JOB_LIST"][0]
    (job,) = report.values["jobs"]
    assert job["id"] == "listed" and job["state"] == "QUEUED" and job["exit_code"] is None


def test_shutdown_stops_the_running_job(payload):
    payload.install_job("slow", "exec sleep 600\n")
    submit(payload, "s", "slow")
    payload.tick()
    job = payload.ctl.runner.jobs["s"]
    process = job.process
    payload.ctl.runner.shutdown()
    assert process.poll() == -15
    assert job.state is JobState.QUEUED and job.rec.reason == "controller shutdown"
