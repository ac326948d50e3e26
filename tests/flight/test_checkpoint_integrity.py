"""A checkpoint altered on disk after its job named it (a radiation upset, a failing disk) is
never resumed from: the controller records each checkpoint's SHA-256 when it is named, checks it
before JOB_RESUME, says JOB_CHECKPOINT_CORRUPT, counts it in housekeeping (sdc_detected) and
resumes from the newest checkpoint still intact, or starts over; the job still ends with the
model a run that was never stopped gives. A job store an earlier controller made (no digests)
opens and takes them."""

from __future__ import annotations

import sqlite3
import time

import numpy as np

from flight.dictionary import JobState
from flight.jobs import store as job_store
from flight.jobs.store import JobRecord, JobStore
from tests.flight.test_sample_jobs import events, install, run_to_end, until_checkpointed

TRAIN = ["train-numpy", "--steps", "30000", "--samples", "2048"]


def hk_value(tms, field: str):
    return [t.values[field] for t in tms if t.name == "HOUSEKEEPING"][-1]


def flip_a_bit(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x10
    path.write_bytes(bytes(data))


def held_back(payload, job) -> list[str]:
    """Safe mode, commanded: the running job checkpoints, stops and waits (until SAFE_MODE_EXIT);
    the events on the way."""
    payload.command("SAFE_MODE_ENTER")
    seen, deadline = [], time.monotonic() + 60
    while job.state is JobState.RUNNING:
        assert time.monotonic() < deadline, seen
        seen += [n for n, _ in events(payload.tick())]
        time.sleep(0.02)
    assert job.state is JobState.QUEUED and "JOB_SUSPENDED" in seen, (job.rec, seen)
    return seen


def test_an_altered_checkpoint_is_never_resumed_from(payload):
    install(payload, "train-numpy", "train_numpy.py")
    for job_id in ("straight", "upset"):
        manifest = {
            "id": job_id,
            "command": TRAIN,
            "checkpoint": {"interval_s": 2, "cost_s": 1},
            "results": [{"path": "model.npz"}],
        }
        payload.command("SUBMIT_JOB", {"manifest": manifest})
        if job_id == "straight":
            run_to_end(payload, job_id)
            continue
        job = payload.ctl.runner.jobs[job_id]
        until_checkpointed(payload, job_id, count=3)  # two to fall back on, and a newer one
        held_back(payload, job)
        checkpoints = job.rec.checkpoints
        assert len(checkpoints) >= 3 and all(len(digest) == 64 for _, digest in checkpoints)
        newest, older = checkpoints[-1][0], checkpoints[-2][0]
        assert job.rec.checkpoint == newest
        flip_a_bit(payload.state_dir / "jobs" / job_id / "checkpoints" / newest, 700)

        payload.command("SAFE_MODE_EXIT")
        tms = payload.tick()
        said = [(t.name, t.values) for t in tms if t.event is not None]
        assert ("JOB_CHECKPOINT_CORRUPT", {"job_id": job_id, "checkpoint": newest}) in said
        assert ("JOB_RESUMED", {"job_id": job_id, "checkpoint": older}) in said
        assert hk_value(tms, "sdc_detected") == 1
        assert [name for name, _ in job.rec.checkpoints][-1] == older  # the altered one forgotten
        run_to_end(payload, job_id)
    straight = np.load(payload.state_dir / "jobs" / "straight" / "model.npz")["weights"]
    upset = np.load(payload.state_dir / "jobs" / "upset" / "model.npz")["weights"]
    np.testing.assert_array_equal(straight, upset)
    assert payload.ctl.runner.jobs["upset"].state is JobState.COMPLETED


def test_every_checkpoint_altered_the_job_starts_over(payload):
    install(payload, "train-numpy", "train_numpy.py")
    manifest = {"id": "over", "command": TRAIN, "checkpoint": {"interval_s": 2, "cost_s": 1}}
    payload.command("SUBMIT_JOB", {"manifest": manifest})
    job = payload.ctl.runner.jobs["over"]
    until_checkpointed(payload, "over")
    held_back(payload, job)
    for name, _ in job.rec.checkpoints:
        flip_a_bit(payload.state_dir / "jobs" / "over" / "checkpoints" / name, 300)
    payload.command("SAFE_MODE_EXIT")
    said = [(t.name, t.values) for t in payload.tick() if t.event is not None]
    corrupt = [v["checkpoint"] for n, v in said if n == "JOB_CHECKPOINT_CORRUPT"]
    assert corrupt and len(corrupt) == len(set(corrupt))
    assert "JOB_STARTED" in [n for n, _ in said] and "JOB_RESUMED" not in [n for n, _ in said]
    assert job.rec.checkpoint is None and job.rec.checkpoints == []
    run_to_end(payload, "over")
    out = (payload.state_dir / "jobs" / "over" / "stdout.log").read_text()
    assert out.count("resumed from step") == 0 and "done: 30000 steps" in out


def test_a_store_an_earlier_controller_made_opens_and_keeps_digests(tmp_path):
    path = tmp_path / "jobs.sqlite"
    earlier = job_store._SCHEMA
    for name, kind in job_store._ADDED_COLUMNS.items():
        earlier = earlier.replace(f",\n    {name} {kind}", "")
    assert "checkpoints" not in earlier and "sdc_reruns" not in earlier
    with sqlite3.connect(path) as db:
        db.executescript(earlier)
        db.execute(
            "INSERT INTO jobs (id, seq, manifest, state, priority, queued_at) "
            "VALUES ('old', 1, x'80', 1, 100, 0)"
        )
        db.execute("PRAGMA user_version=1")
    store = JobStore(path)
    [old] = store.load()
    assert old.checkpoints == [] and old.sdc_reruns == 0 and old.id == "old"
    old.checkpoints = [["step-1.npz", "ab" * 32]]
    store.update(old, "checkpoints")
    store.close()
    store = JobStore(path)
    [again] = store.load()
    assert again.checkpoints == [["step-1.npz", "ab" * 32]]
    new = JobRecord("new", 2, {}, JobState.QUEUED, 100, 1.0)
    store.insert(new)
    assert [r.checkpoints for r in store.load()] == [[["step-1.npz", "ab" * 32]], []]
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (job_store.SCHEMA_VERSION,)
