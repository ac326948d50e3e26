"""Silent upsets through the simulated GPU's fault channel (flight/gpu/silent_upsets.py), into a
real controller and a real job: a bit flipped in a job's newest checkpoint on disk is caught
before the job resumes from it; a result file gets exactly one bit flipped; a weight upset waits
in the upset box for the job; a message that cannot be applied is counted and touches nothing."""

from __future__ import annotations

import json
import os
import stat

from flight.dictionary import JobState
from flight.gpu.fault_channel import send_fault
from flight.gpu.silent_upsets import ACCOUNT, upset_box
from tests.flight.test_checkpoint_integrity import TRAIN, held_back
from tests.flight.test_sample_jobs import install, run_to_end, until_checkpointed


def channel(p):
    return p.ctl.faults


def test_a_checkpoint_upset_through_the_fault_channel_is_caught_before_resuming(sim_payload):
    p = sim_payload
    p.allowance = 720.0  # the simulated H100 at work
    install(p, "train-numpy", "train_numpy.py")
    manifest = {"id": "hit", "command": TRAIN, "checkpoint": {"interval_s": 2, "cost_s": 1}}
    p.command("SUBMIT_JOB", {"manifest": manifest})
    job = p.ctl.runner.jobs["hit"]
    until_checkpointed(p, "hit", count=2)
    held_back(p, job)
    newest = job.rec.checkpoint
    path = p.state_dir / "jobs" / "hit" / "checkpoints" / newest
    before = path.read_bytes()
    send_fault(p.state_dir, {"upset": "checkpoint", "job": "hit", "seed": 5})
    p.command("SAFE_MODE_EXIT")
    said = [(t.name, t.values) for t in p.tick() if t.event is not None]
    after = path.read_bytes()
    assert sum(bin(a ^ b).count("1") for a, b in zip(before, after, strict=True)) == 1
    assert ("JOB_CHECKPOINT_CORRUPT", {"job_id": "hit", "checkpoint": newest}) in said
    assert channel(p).upsets.applied["checkpoint"] == 1
    run_to_end(p, "hit")
    assert job.state is JobState.COMPLETED


def test_result_and_weight_upsets_and_messages_that_cannot_be_applied(sim_payload, tmp_path):
    p = sim_payload
    workdir = p.state_dir / "jobs" / "done"
    workdir.mkdir(parents=True)
    (workdir / "model.bin").write_bytes(bytes(4096))
    outside = tmp_path / "outside.bin"
    outside.write_bytes(bytes(64))
    (workdir / "link.bin").symlink_to(outside)
    send_fault(p.state_dir, {"upset": "result", "job": "done", "path": "model.bin", "seed": 9})
    send_fault(p.state_dir, {"upset": "weights", "seed": 3})
    bad = [
        {"upset": "cosmic", "seed": 1},  # no such target
        {"upset": "result", "job": "../..", "path": "x", "seed": 1},  # not a job id
        {"upset": "result", "job": "done", "path": "link.bin", "seed": 1},  # through a link
        {"upset": "result", "job": "done", "path": "../done/model.bin", "seed": 1},
        {"upset": "checkpoint", "job": "done", "seed": 1},  # it has no checkpoint
        {"upset": "weights"},  # no seed
    ]
    for message in bad:
        send_fault(p.state_dir, message)
    p.tick()
    flipped = (workdir / "model.bin").read_bytes()
    assert sum(bin(octet).count("1") for octet in flipped) == 1
    assert outside.read_bytes() == bytes(64)
    [upset] = list(upset_box(p.state_dir).glob("*.upset"))
    assert json.loads(upset.read_text()) == {"seed": 3}
    assert stat.S_IMODE(os.stat(upset_box(p.state_dir)).st_mode) == 0o1777
    assert channel(p).upsets.applied == {"weights": 1, "checkpoint": 0, "result": 1}
    assert channel(p).bad == len(bad)
    # the bench's account: what was applied on disk, and nothing that was not
    account = (p.state_dir / ACCOUNT).read_text().splitlines()
    assert [json.loads(line) for line in account] == [
        {"upset": "result", "job": "done", "path": "model.bin", "seed": 9}
    ]
