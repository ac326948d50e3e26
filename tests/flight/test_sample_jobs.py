"""The sample jobs under the controller, as real processes: the numpy training loop checkpoints
when asked, stops on SIGTERM with a checkpoint, and resumes from JOB_RESUME to the same model a
run without interruption gives; the CUDA burn says clearly when there is no GPU."""

import json
import sys
import time
from importlib import resources

import numpy as np

from flight.dictionary import JobState


def install(payload, name, source):
    text = resources.files("hil").joinpath("sample_jobs", source).read_text()
    path = payload.state_dir / "bin" / name
    path.write_text(f"#!{sys.executable}\n{text}")
    path.chmod(0o755)


def events(tms):
    return [(t.name, t.values) for t in tms if t.event is not None]


def until_checkpointed(payload, job_id, count=1, limit_s=60.0):
    """Tick until the job has checkpointed ``count`` times (it must stay queued or running); the
    events on the way."""
    deadline = time.monotonic() + limit_s
    seen = []
    while seen.count("JOB_CHECKPOINTED") < count:
        job = payload.ctl.runner.jobs[job_id]
        assert job.state in (JobState.QUEUED, JobState.RUNNING), (job.rec, seen)
        assert time.monotonic() < deadline, seen
        seen += [n for n, _ in events(payload.tick())]
        time.sleep(0.02)
    return seen


def run_to_end(payload, job_id, limit_s=120.0):
    deadline = time.monotonic() + limit_s
    seen = []
    while payload.ctl.runner.jobs[job_id].state not in (JobState.COMPLETED, JobState.FAILED):
        assert time.monotonic() < deadline, seen
        seen += [n for n, _ in events(payload.tick())]
        time.sleep(0.01)
    return seen


def test_training_loop_checkpoints_suspends_and_resumes_to_the_same_model(payload):
    install(payload, "train-numpy", "train_numpy.py")
    args = ["--steps", "30000", "--samples", "2048"]  # about 5 s of work
    for job_id in ("straight", "interrupted"):
        manifest = {
            "id": job_id,
            "command": ["train-numpy", *args],
            "checkpoint": {"interval_s": 2, "cost_s": 1},
            "results": [{"path": "model.npz", "priority": 1}, {"path": "metrics.json"}],
        }
        payload.command("SUBMIT_JOB", {"manifest": manifest})
        until_checkpointed(payload, job_id)
        if job_id == "interrupted":
            payload.ctl.runner.suspend(payload.time, "test: power")
        seen = run_to_end(payload, job_id)
    assert seen.count("JOB_CHECKPOINTED") >= 1
    workdir = payload.state_dir / "jobs" / "interrupted"
    assert "JOB_SUSPENDED" in seen and "JOB_RESUMED" in seen
    assert "resumed from step" in (workdir / "stdout.log").read_text()
    a = np.load(payload.state_dir / "jobs" / "straight" / "model.npz")["weights"]
    b = np.load(workdir / "model.npz")["weights"]
    np.testing.assert_allclose(a, b, rtol=1e-12)
    assert json.loads((workdir / "metrics.json").read_text())["accuracy"] > 0.9
    results = payload.ctl.runner.jobs["interrupted"].detail()["results"]
    assert {r["path"] for r in results} == {"stdout.log", "stderr.log", "model.npz", "metrics.json"}


def test_cuda_burn_says_so_without_torch_or_a_gpu(payload):
    install(payload, "cuda-burn", "cuda_burn.py")
    payload.command("SUBMIT_JOB", {"manifest": {"id": "burn", "command": ["cuda-burn"]}})
    payload.tick()
    payload.wait_job_process("burn")
    payload.tick()
    job = payload.ctl.runner.jobs["burn"]
    if job.state is JobState.COMPLETED:  # a machine with torch and a GPU
        assert (payload.state_dir / "jobs" / "burn" / "burn.json").is_file()
        return
    assert job.rec.exit_code == 2
    err = (payload.state_dir / "jobs" / "burn" / "stderr.log").read_text()
    assert err.startswith("cuda-burn: ") and "Traceback" not in err
