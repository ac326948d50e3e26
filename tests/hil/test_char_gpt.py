"""The GPT sample job's integrity primitives, run as the program it is (PyTorch, CPU): an
interval between two checkpoints replayed ($JOB_REPLAY_TO) reproduces the later checkpoint octet
for octet, every time; one bit flipped in a weight during the interval (the bench's simulated
GPU, $SIM_GPU_UPSETS) makes the replay disagree; a replay that cannot be done says so in a line.
Under ABFT ($JOB_INTEGRITY=abft) the computation is the same octets, and a large weight upset is
caught before any checkpoint holds it (exit 86)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

JOB = resources.files("hil").joinpath("sample_jobs", "char_gpt.py")
JOBS_DOC = Path(__file__).parents[2] / "docs" / "jobs.md"  # the training text
TRAIN = ["train", "--text", "corpus.txt", "--steps", "300", "--layers", "1", "--heads", "2",
         "--embd", "32", "--block", "32", "--batch", "8", "--eval-every", "100",
         "--eval-batches", "1", "--sample-chars", "20"]  # fmt: skip


def run(work: Path, command: list[str], **env: str) -> subprocess.CompletedProcess:
    """The job in ``work`` (its directory), with the protocol's variables and ``env``."""
    work.mkdir(parents=True, exist_ok=True)
    variables = {
        "JOB_CHECKPOINT_DIR": str(work / "checkpoints"),
        "JOB_READY_FILE": str(work / "ready"),
        "JOB_PROGRESS_FILE": str(work / "progress"),
        "JOB_INPUT_DIR": str(work.parent),
    }
    return subprocess.run(
        [sys.executable, str(JOB), *command],
        cwd=work,
        env=os.environ | variables | env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_replayed_interval_reproduces_its_checkpoint_and_an_upset_in_it_does_not(tmp_path):
    (tmp_path / "corpus.txt").write_text(
        (Path(__file__).parents[2] / "docs" / "jobs.md").read_text()
    )
    first = run(tmp_path / "first", TRAIN, JOB_REPLAY_TO="step-0000030.safetensors")
    assert first.returncode == 0, first.stderr
    start = tmp_path / "first" / "checkpoints" / "step-0000030.safetensors"
    assert (tmp_path / "first" / "checkpoints" / "LATEST").read_text() == start.name + "\n"
    assert not (tmp_path / "first" / "model.safetensors").exists()  # a replay leaves no results
    interval = {"JOB_RESUME": str(start), "JOB_REPLAY_TO": "step-0000060.safetensors"}
    made = {}
    for name in ("original", "replay"):
        done = run(tmp_path / name, TRAIN, **interval)
        assert done.returncode == 0, done.stderr
        made[name] = digest(tmp_path / name / "checkpoints" / "step-0000060.safetensors")
        assert made[name] in done.stdout  # the digest it reports is the file's
    assert made["replay"] == made["original"]
    # stopped just after reaching its target (a suspension), a replay resumed from it is done:
    # the same checkpoint again, exit 0
    done = run(tmp_path / "at", TRAIN, JOB_RESUME=str(start), JOB_REPLAY_TO=start.name)
    assert done.returncode == 0, done.stderr
    assert digest(tmp_path / "at" / "checkpoints" / start.name) == digest(start)

    upsets = tmp_path / "upsets"
    upsets.mkdir()
    (upsets / "0001.upset").write_text(json.dumps({"seed": 11}))
    hit = run(tmp_path / "hit", TRAIN, SIM_GPU_UPSETS=str(upsets), **interval)
    assert hit.returncode == 0, hit.stderr
    assert digest(tmp_path / "hit" / "checkpoints" / "step-0000060.safetensors") != made["original"]
    applied = json.loads((upsets / "0001.applied").read_text())
    assert applied["step"] == 30 and 0 <= applied["bit"] < 32 and applied["tensor"]
    assert applied["seed"] == 11 and applied["job"] is None  # no JOB_ID given here
    assert not (upsets / "0001.upset").exists()  # taken once
    assert "upset" not in hit.stdout + hit.stderr  # silent: nothing the job says gives it away


def test_a_replay_that_cannot_be_done_says_so_in_one_line(tmp_path):
    (tmp_path / "corpus.txt").write_text(
        (Path(__file__).parents[2] / "docs" / "jobs.md").read_text()
    )
    for target, said in (
        ("model.safetensors", "is not a checkpoint name of this job"),
        ("step-0000999.safetensors", "cannot replay from step 0 to step 999"),
    ):
        done = run(tmp_path / "bad", TRAIN, JOB_REPLAY_TO=target)
        assert done.returncode == 1
        assert done.stderr.startswith("char-gpt: ") and said in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_abft_leaves_the_computation_as_it_was_and_catches_a_large_weight_upset(tmp_path):
    (tmp_path / "corpus.txt").write_text(JOBS_DOC.read_text())
    assert run(tmp_path / "first", TRAIN, JOB_REPLAY_TO="step-0000030.safetensors").returncode == 0
    start = tmp_path / "first" / "checkpoints" / "step-0000030.safetensors"
    interval = {"JOB_RESUME": str(start), "JOB_REPLAY_TO": "step-0000060.safetensors"}
    made = {}
    for name, env in (("plain", {}), ("abft", {"JOB_INTEGRITY": "abft"})):
        done = run(tmp_path / name, TRAIN, **interval, **env)
        assert done.returncode == 0, done.stderr
        made[name] = digest(tmp_path / name / "checkpoints" / "step-0000060.safetensors")
    assert made["abft"] == made["plain"]  # the checks only observe: the same octets

    upsets = tmp_path / "upsets"
    upsets.mkdir()
    (upsets / "0001.upset").write_text(json.dumps({"seed": 10}))  # an exponent bit of fc or qkv
    hit = run(tmp_path / "hit", TRAIN, SIM_GPU_UPSETS=str(upsets), JOB_INTEGRITY="abft", **interval)
    assert hit.returncode == 86, hit.stderr
    assert hit.stderr.startswith("char-gpt: silent data corruption caught: blocks.0.")
    assert json.loads((upsets / "0001.applied").read_text())["bit"] >= 25
    assert not (tmp_path / "hit" / "checkpoints" / "step-0000060.safetensors").exists()
    wrong = run(tmp_path / "wrong", TRAIN, JOB_INTEGRITY="tmr")
    assert wrong.returncode == 1 and "this job checks none or abft" in wrong.stderr


def test_a_model_made_infinite_by_an_upset_ends_the_job_in_one_line(tmp_path):
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    (tmp_path / "corpus.txt").write_text(JOBS_DOC.read_text())
    assert run(tmp_path / "first", TRAIN, JOB_REPLAY_TO="step-0000030.safetensors").returncode == 0
    start = tmp_path / "first" / "checkpoints" / "step-0000030.safetensors"
    with safe_open(str(start), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(start))
    name = next(k for k in sorted(tensors) if k.startswith("model.") and k.endswith("weight"))
    tensors[name].view(-1)[0] = float("inf")  # an exponent bit's worth of upset, and then some
    save_file(tensors, str(start), metadata=metadata)
    done = run(tmp_path / "resumed", TRAIN, JOB_RESUME=str(start))
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("char-gpt: the loss at step 31 is not finite"), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "resumed" / "model.safetensors").exists()  # no result of it
