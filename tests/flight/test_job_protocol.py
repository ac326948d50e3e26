"""The checkpoint protocol, retries and restarts with real job processes, in lockstep: SIGUSR1
asks for a checkpoint, LATEST names it, JOB_RESUME hands it back; a restarted controller adopts
a job that still runs and records one that ended while it was down, never running it again."""

import time

from flight.dictionary import JobState

# A job that counts to $1, one step per 0.02 s, checkpointing its counter on SIGUSR1 and
# stopping on SIGTERM; it resumes from JOB_RESUME. It logs each start to starts.log.
COUNTER = r"""
echo "start ${JOB_RESUME:-fresh}" >> starts.log
n=0
[ -n "$JOB_RESUME" ] && n=$(cat "$JOB_RESUME")
checkpoint() {
    echo $n > "$JOB_CHECKPOINT_DIR/ck-$n"
    echo "ck-$n" > "$JOB_CHECKPOINT_DIR/LATEST.tmp"
    mv "$JOB_CHECKPOINT_DIR/LATEST.tmp" "$JOB_CHECKPOINT_DIR/LATEST"
}
trap checkpoint USR1
trap 'exit 143' TERM
touch "$JOB_READY_FILE"
while [ $n -lt $1 ]; do
    n=$((n+1)); echo "0.$n" > "$JOB_PROGRESS_FILE"; sleep 0.02
done
echo done >> starts.log
"""


def events(tms):
    return [(t.name, t.values) for t in tms if t.event is not None]


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def exited(pid: int) -> bool:
    """The process is gone, or a zombie: it has exited."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def submit(payload, job_id, *args, **manifest):
    tms = payload.command(
        "SUBMIT_JOB", {"manifest": {"id": job_id, "command": ["counter", *args]} | manifest}
    )
    assert "JOB_QUEUED" in [t.name for t in tms]


def test_checkpoint_on_policy_then_resume_after_suspension(payload):
    payload.install_job("counter", COUNTER)
    submit(payload, "c", "100000", checkpoint={"interval_s": 3, "cost_s": 1})
    payload.tick()
    workdir = payload.state_dir / "jobs" / "c"
    wait_for(lambda: (workdir / "ready").exists())
    for _ in range(3):  # the third second of run time reaches the interval: SIGUSR1
        assert events(payload.tick()) == []
    wait_for(lambda: (workdir / "checkpoints" / "LATEST").exists())
    (name, values), *_ = events(payload.tick())
    assert name == "JOB_CHECKPOINTED" and values["checkpoint"].startswith("ck-")
    payload.ctl.runner.suspend(payload.time, "test: power")  # checkpoint, then stop
    wait_for(
        lambda: (workdir / "checkpoints" / "LATEST").read_text().strip() != values["checkpoint"]
    )
    checkpointed = events(payload.tick())
    assert checkpointed[0][0] == "JOB_CHECKPOINTED"
    payload.wait_job_process("c")  # SIGTERM came right after the checkpoint
    suspended, *resumed = events(payload.tick())  # nothing holds it back: it starts again
    assert suspended == ("JOB_SUSPENDED", {"job_id": "c", "reason": "test: power"})
    assert [n for n, _ in resumed] == ["JOB_STARTED", "JOB_RESUMED"]
    assert resumed[1][1]["checkpoint"] == checkpointed[0][1]["checkpoint"]
    job = payload.ctl.runner.jobs["c"]
    assert job.rec.attempts == 2 and job.rec.failures == 0
    wait_for(lambda: (workdir / "starts.log").read_text().count("start") == 2)
    starts = (workdir / "starts.log").read_text().split("\n")
    assert starts[0] == "start fresh" and starts[1].endswith(checkpointed[0][1]["checkpoint"])


def test_failed_job_is_retried_up_to_its_limit(payload):
    payload.install_job("counter", 'echo "try $JOB_ATTEMPT" >> tries.log; exit 4\n')
    submit(payload, "r", max_retries=2)
    seen = []
    for _ in range(8):
        tms = payload.tick()
        seen += [n for n, _ in events(tms)]
        if payload.ctl.runner.running is not None:
            payload.wait_job_process("r")
    assert seen.count("JOB_REQUEUED") == 2 and seen[-1] == "JOB_FAILED"
    job = payload.ctl.runner.jobs["r"]
    assert job.state is JobState.FAILED and job.rec.failures == 3 and job.rec.exit_code == 4
    tries = (payload.state_dir / "jobs" / "r" / "tries.log").read_text()
    assert tries == "try 1\ntry 2\ntry 3\n"


def test_restarted_controller_adopts_a_running_job(payload):
    payload.install_job("counter", COUNTER)
    submit(payload, "a", "40")
    payload.tick()
    workdir = payload.state_dir / "jobs" / "a"
    wait_for(lambda: (workdir / "ready").exists())
    payload.restart()  # as after SIGKILL: the job keeps running
    tms = payload.tick()
    adopted = [v for n, v in events(tms) if n == "JOB_ADOPTED"]
    assert adopted and adopted[0]["job_id"] == "a"
    wait_for(lambda: "done" in (workdir / "starts.log").read_text())
    wait_for(lambda: (workdir / "exit_status").exists())
    wait_for(lambda: "JOB_COMPLETED" in [n for n, _ in events(payload.tick())])
    assert (workdir / "starts.log").read_text().count("start") == 1


def test_a_job_that_ended_while_the_controller_was_down_is_not_run_again(payload):
    payload.install_job("counter", COUNTER)
    submit(payload, "b", "5")
    payload.tick()
    workdir = payload.state_dir / "jobs" / "b"
    payload.restart()
    wait_for(lambda: (workdir / "exit_status").exists())
    supervisor = payload.ctl.runner.jobs["b"].rec.pid
    wait_for(lambda: exited(supervisor))  # the supervisor exits after recording
    completed = [v for n, v in events(payload.tick()) if n == "JOB_COMPLETED"]
    assert completed and completed[0]["job_id"] == "b"
    for _ in range(3):
        payload.tick()
    assert (workdir / "starts.log").read_text() == "start fresh\ndone\n"
    assert payload.ctl.runner.jobs["b"].state is JobState.COMPLETED


def test_progress_is_reported_in_housekeeping(payload):
    payload.install_job("counter", COUNTER)
    submit(payload, "p", "5")
    payload.tick()
    payload.wait_job_process("p")
    hk = payload.tick()[-1].values
    assert hk["job_progress_pct"] == 100 and hk["job_state"] == JobState.COMPLETED
