"""The redundant and checkpoint-replay integrity policies under a real controller, with real job
processes: a job whose process ended 0 waits in VERIFYING while its verification runs (jobs of
their own, ``JOB+vN``) do its work again; its results go down only when they agree. An upset in
one interval is caught by the run that replays it, and the job runs again from the checkpoint
before it, ending with the result a clean run gives. A run that cannot verify leaves the results
suspect; cancelling the job cancels its runs; a restart in the middle loses nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from flight.dictionary import JobState
from flight.jobs.execution import SimulatedExecution
from flight.jobs.job import Job
from flight.jobs.manifest import ManifestError, parse_manifest
from flight.jobs.store import JobRecord
from flight.jobs.verification import AGREES, DISAGREES, plan
from tests.flight.test_sample_jobs import events

STEPS = 150
# A job of STEPS deterministic steps (state s; each step s = (31 s + n) mod 1000003), checkpointed
# on SIGUSR1 as step-N, resumed from JOB_RESUME, replaying to JOB_REPLAY_TO; its result is the last
# state. $UPSET names a flag file: the first step that finds it takes it and flips s's low bit, as
# an upset in memory would. With $NO_REPLAY it refuses to replay (exit 3).
STEPPER = r"""
n=0; s=1
[ -n "$JOB_RESUME" ] && read n s < "$JOB_RESUME"
if [ -n "$JOB_REPLAY_TO" ]; then
    [ -n "$NO_REPLAY" ] && exit 3
    last=${JOB_REPLAY_TO#step-}
else
    last=$1
fi
checkpoint() {
    echo "$n $s" > "$JOB_CHECKPOINT_DIR/step-$n.tmp"
    mv "$JOB_CHECKPOINT_DIR/step-$n.tmp" "$JOB_CHECKPOINT_DIR/step-$n"
    echo "step-$n" > "$JOB_CHECKPOINT_DIR/LATEST.tmp"
    mv "$JOB_CHECKPOINT_DIR/LATEST.tmp" "$JOB_CHECKPOINT_DIR/LATEST"
}
trap checkpoint USR1
trap 'checkpoint; exit 143' TERM
touch "$JOB_READY_FILE"
while [ "$n" -lt "$last" ]; do
    n=$((n+1)); s=$(( (s*31 + n) % 1000003 ))
    if [ -n "$UPSET" ] && mv "$UPSET" "$UPSET.taken" 2>/dev/null; then s=$((s ^ 1)); fi
    sleep 0.02
done
[ -n "$JOB_REPLAY_TO" ] && checkpoint && exit 0
echo "$s" > result.txt
"""


def clean_result(steps: int = STEPS) -> str:
    s = 1
    for n in range(1, steps + 1):
        s = (s * 31 + n) % 1000003
    return f"{s}\n"


def manifest(job_id: str, policy: dict, **extra) -> dict:
    return {
        "id": job_id,
        "command": ["stepper", str(STEPS)],
        "checkpoint": {"interval_s": 20, "cost_s": 1},
        "results": [{"path": "result.txt"}],
        "integrity": policy,
        "time_limit_s": 86400,
        **extra,
    }


def submitted(payload, m: dict) -> None:
    said = [t.name for t in payload.command("SUBMIT_JOB", {"manifest": m})]
    assert "COMPLETION_SUCCESS" in said, said


def until(payload, done, limit_s: float = 120.0, on_tick=None) -> list[tuple[str, dict]]:
    """Tick (one bus second each, paced) until ``done()``; the events on the way."""
    deadline, seen = time.monotonic() + limit_s, []
    while not done():
        assert time.monotonic() < deadline, [n for n, _ in seen]
        seen += events(payload.tick())
        if on_tick is not None:
            on_tick(seen)
        time.sleep(0.01)
    return seen


def state(payload, job_id: str) -> JobState:
    return payload.ctl.runner.jobs[job_id].state


def runs_of(payload, job_id: str) -> list[Job]:
    return [j for j in payload.ctl.runner.jobs.values() if j.rec.verifies[:1] == [job_id]]


def final(payload, job_id: str) -> bool:
    return state(payload, job_id) in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


def test_every_interval_replayed_agrees_and_only_then_do_the_results_go_down(payload):
    payload.install_job("stepper", STEPPER)
    submitted(payload, manifest("j", {"policy": "checkpoint-replay", "sample": 1.0}))
    workdir = payload.state_dir / "jobs" / "j"
    seen = until(payload, lambda: state(payload, "j") is JobState.VERIFYING)
    verifying = [v for n, v in seen if n == "JOB_VERIFYING"]
    checkpointed = [v["checkpoint"] for n, v in seen if n == "JOB_CHECKPOINTED"]
    assert len(checkpointed) >= 2, seen  # the job's run had intervals to replay
    # every interval: from the start, between each checkpoint, and the last one to the results
    assert verifying == [
        {"job_id": "j", "check": "checkpoint-replay", "runs": len(checkpointed) + 1,
         "intervals": len(checkpointed) + 1}
    ]  # fmt: skip
    assert not (workdir / "RESULTS.json").exists()  # held while it is verified
    seen += until(payload, lambda: final(payload, "j"))
    job, runs = payload.ctl.runner.jobs["j"], runs_of(payload, "j")
    intervals = [(r.rec.verifies[1], r.rec.verifies[2]) for r in runs]
    chain = [None, *checkpointed, None]
    assert intervals == list(zip(chain, chain[1:], strict=False))
    assert all(r.state is JobState.COMPLETED and r.rec.reason == AGREES for r in runs)
    assert [r.rec.id for r in runs] == [f"j+v{i}" for i in range(1, len(runs) + 1)]
    assert job.state is JobState.COMPLETED and not job.rec.suspect, job.rec
    assert (
        job.rec.reason == f"checkpoint-replay: {len(runs)} of {len(runs)} verification runs agree"
    )
    assert (workdir / "result.txt").read_text() == clean_result()
    # a replay resumed from the job's own checkpoint (linked, its digest checked) and stopped at
    # the next one; only the job's results go down, never a run's
    second = payload.state_dir / "jobs" / "j+v2"
    assert (second / "checkpoints" / checkpointed[0]).stat().st_ino == (
        workdir / "checkpoints" / checkpointed[0]
    ).stat().st_ino
    assert not (second / "result.txt").exists()
    assert json.loads((workdir / "RESULTS.json").read_text())["suspect"] is False
    assert not any((payload.state_dir / "jobs" / r.rec.id / "RESULTS.json").exists() for r in runs)
    assert payload.ctl.runner.sdc_detected == 0


@pytest.mark.parametrize("policy", [{"policy": "checkpoint-replay", "sample": 1.0},
                                    {"policy": "redundant"}])  # fmt: skip
def test_an_upset_is_caught_and_the_job_runs_again_to_the_clean_result(payload, tmp_path, policy):
    payload.install_job("stepper", STEPPER)
    flag = tmp_path / "upset"
    submitted(payload, manifest("j", policy, env={"UPSET": str(flag)}))

    def upset_after_a_checkpoint(seen):
        if "JOB_CHECKPOINTED" in [n for n, _ in seen] and not flag.with_suffix(".taken").exists():
            flag.touch()

    seen = until(
        payload, lambda: state(payload, "j") is JobState.VERIFYING, 120, upset_after_a_checkpoint
    )
    assert flag.with_suffix(".taken").exists()  # the job's own run took it
    seen += until(payload, lambda: final(payload, "j"), 240)
    names = [n for n, _ in seen]
    caught = [v for n, v in seen if n == "JOB_SDC_DETECTED"]
    assert caught == [{"job_id": "j", "check": policy["policy"], "reruns": 1}], names
    assert names.count("JOB_VERIFYING") == 2 and names.index("JOB_SDC_DETECTED") < names.index(
        "JOB_REQUEUED"
    )
    job = payload.ctl.runner.jobs["j"]
    assert job.state is JobState.COMPLETED and not job.rec.suspect, job.rec
    assert (payload.state_dir / "jobs" / "j" / "result.txt").read_text() == clean_result()
    disagreeing = [r for r in runs_of(payload, "j") if r.rec.reason == DISAGREES]
    assert len(disagreeing) == 1
    start = disagreeing[0].rec.verifies[1]
    resumed = [v["checkpoint"] for n, v in seen if n == "JOB_RESUMED" and v["job_id"] == "j"]
    # it went back to the checkpoint before the interval that disagreed (redundant: the start)
    assert resumed == ([start] if start is not None else []), (start, resumed)
    assert payload.ctl.runner.sdc_detected == 1
    said = json.loads((payload.state_dir / "jobs" / "j" / "RESULTS.json").read_text())
    assert said["suspect"] is False


def test_a_run_that_cannot_verify_leaves_the_results_suspect(payload):
    payload.install_job("stepper", STEPPER)
    policy = {"policy": "checkpoint-replay", "sample": 1.0}
    submitted(payload, manifest("j", policy, env={"NO_REPLAY": "1"}))
    seen = until(payload, lambda: final(payload, "j"))
    job = payload.ctl.runner.jobs["j"]
    replays = [r for r in runs_of(payload, "j") if r.rec.verifies[2] is not None]
    assert replays and all(r.state is JobState.FAILED for r in replays)
    assert job.state is JobState.COMPLETED and job.rec.suspect
    assert "JOB_RESULTS_SUSPECT" in [n for n, _ in seen]
    said = json.loads((payload.state_dir / "jobs" / "j" / "RESULTS.json").read_text())
    assert said["suspect"] is True  # never delivered as verified


def test_cancelling_a_job_being_verified_cancels_its_runs(payload):
    payload.install_job("stepper", STEPPER)
    submitted(payload, manifest("j", {"policy": "checkpoint-replay", "sample": 1.0}))
    until(payload, lambda: state(payload, "j") is JobState.VERIFYING)
    said = [t.name for t in payload.command("CANCEL_JOB", {"job_id": "j"})]
    assert "COMPLETION_SUCCESS" in said, said
    until(payload, lambda: all(r.state is JobState.CANCELLED for r in runs_of(payload, "j")))
    assert state(payload, "j") is JobState.CANCELLED
    assert not (payload.state_dir / "jobs" / "j" / "RESULTS.json").exists()


def test_a_restart_while_verifying_loses_no_run_and_reaches_the_verdict(payload):
    payload.install_job("stepper", STEPPER)
    submitted(payload, manifest("j", {"policy": "redundant"}))
    until(payload, lambda: any(r.state is JobState.RUNNING for r in runs_of(payload, "j")))
    payload.restart()  # a crash: the run's process goes on without its controller
    assert state(payload, "j") is JobState.VERIFYING
    until(payload, lambda: final(payload, "j"))
    job, [run] = payload.ctl.runner.jobs["j"], runs_of(payload, "j")
    assert run.rec.reason == AGREES and job.state is JobState.COMPLETED and not job.rec.suspect


def planned(checkpoints: int, sample: float, results: bool = True, attempts: int = 1):
    m = manifest("p", {"policy": "checkpoint-replay", "sample": sample})
    if not results:
        del m["results"]
    rec = JobRecord("p", 1, m, JobState.RUNNING, 100, 0.0, attempts=attempts)
    rec.checkpoints = [[f"step-{i}", f"{i:064x}"] for i in range(1, checkpoints + 1)]
    job = Job(rec, parse_manifest(m), Path("/nonexistent"), SimulatedExecution())
    return plan(job, full_record=False)


def test_checkpoint_replay_samples_its_fraction_of_the_intervals_by_a_seed():
    intervals, of = planned(19, 0.1)
    assert of == 20 and len(intervals) == 2  # 19 checkpoints: 20 intervals, the last to results
    assert intervals == planned(19, 0.1)[0]  # the same job and attempt: the same sample
    samples = {tuple(planned(19, 0.1, attempts=a)[0]) for a in range(1, 30)}
    assert len(samples) > 10  # another attempt, another sample
    assert len(planned(3, 0.01)[0]) == 1  # always at least one
    every, _ = planned(3, 1.0)
    assert [(i.start, i.end, i.digest) for i in every] == [
        (None, "step-1", f"{1:064x}"),
        ("step-1", "step-2", f"{2:064x}"),
        ("step-2", "step-3", f"{3:064x}"),
        ("step-3", None, None),
    ]
    assert planned(3, 1.0, results=False)[1] == 3  # no results: no last interval to compare


@pytest.mark.parametrize(
    ("integrity", "extra", "said"),
    [
        ({"policy": "checkpoint-replay", "sample": 0}, {}, "integrity.sample"),
        ({"policy": "checkpoint-replay", "sample": 1.5}, {}, "integrity.sample"),
        ({"policy": "checkpoint-replay", "sample": "all"}, {}, "integrity.sample"),
        ({"policy": "redundant", "sample": 0.5}, {}, "only for checkpoint-replay"),
        ({"policy": "checkpoint-replay", "every": 2}, {}, "integrity: a map"),
        ({"policy": "checkpoint-replay"}, {"checkpoint": None}, "between checkpoints"),
        ({"policy": "redundant"}, {"results": None}, "declare them"),
    ],
)
def test_a_policy_that_cannot_work_is_refused_with_its_reason(integrity, extra, said):
    m = manifest("bad", integrity)
    for key, value in extra.items():
        if value is None:
            del m[key]
    with pytest.raises(ManifestError, match=said):
        parse_manifest(m)


def test_a_run_the_ground_cancels_leaves_its_job_unverified(payload):
    payload.install_job("stepper", STEPPER)
    submitted(payload, manifest("j", {"policy": "redundant"}))
    until(payload, lambda: state(payload, "j") is JobState.VERIFYING)
    said = [t.name for t in payload.command("CANCEL_JOB", {"job_id": "j+v1"})]
    assert "COMPLETION_SUCCESS" in said, said
    until(payload, lambda: final(payload, "j"))
    job = payload.ctl.runner.jobs["j"]
    assert job.state is JobState.COMPLETED and job.rec.suspect  # nothing vouched for them
    assert job.rec.reason == "redundant: 0 of 1 verification runs agree"
