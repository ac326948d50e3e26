"""The AI sample job (hil/sample_jobs/char_gpt.py, PyTorch on the CPU) under the controller, as
real processes: a character-level GPT trains a few hundred steps on a text uplinked as a job
input, checkpoints when asked, is suspended and resumed from JOB_RESUME, and ends bit-identical
to a run that never stopped; text generated from the model, suspended and resumed, is the same
text; the results go down listed with their SHA-256; bad input ends in one clear line."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from flight.dictionary import JobState
from flight.gpu.fault_channel import send_fault
from flight.gpu.silent_upsets import upset_box
from tests.flight.test_sample_jobs import events, install, run_to_end, until_checkpointed

TRAIN = ["char-gpt", "train", "--text", "corpus.txt", "--steps", "300", "--layers", "2",
         "--heads", "2", "--embd", "48", "--block", "32", "--batch", "8", "--eval-every", "100",
         "--eval-batches", "2", "--sample-chars", "120"]  # fmt: skip
TRAIN_RESULTS = ("model.safetensors", "losses.json", "samples.txt")


def corpus() -> str:
    """A training text: the project's own job documentation, four times over."""
    return (Path(__file__).resolve().parents[2] / "docs" / "jobs.md").read_text() * 4


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def submitted(payload, manifest: dict) -> None:
    said = [(t.name, t.values) for t in payload.command("SUBMIT_JOB", {"manifest": manifest})]
    assert "COMPLETION_SUCCESS" in [name for name, _ in said], said


def run_pair(payload, command: list[str], results: tuple[str, ...]) -> dict[str, dict]:
    """The job run twice: straight, and suspended once after its first checkpoint; the SHA-256
    of each result of each run, and what the interrupted run's events were."""
    install(payload, "char-gpt", "char_gpt.py")
    digests: dict[str, dict] = {}
    for job_id in ("straight", "interrupted"):
        manifest = {
            "id": job_id,
            "command": command,
            "inputs": [command[command.index("--text" if "train" in command else "--model") + 1]],
            "checkpoint": {"interval_s": 60, "cost_s": 1},
            "time_limit_s": 86400,
            "results": [{"path": name, "priority": 1} for name in results],
        }
        submitted(payload, manifest)
        seen = until_checkpointed(payload, job_id, limit_s=120)
        if job_id == "interrupted":
            payload.ctl.runner.suspend(payload.time, "test: power")
        seen += run_to_end(payload, job_id, limit_s=240)
        workdir = payload.state_dir / "jobs" / job_id
        job = payload.ctl.runner.jobs[job_id]
        assert job.state is JobState.COMPLETED, (job.rec, (workdir / "stderr.log").read_text())
        digests[job_id] = {name: sha256(workdir / name) for name in results} | {"events": seen}
    return digests


def test_a_gpt_trained_suspended_and_resumed_ends_bit_identical_to_one_never_stopped(payload):
    (payload.state_dir / "files").mkdir(parents=True, exist_ok=True)
    (payload.state_dir / "files" / "corpus.txt").write_text(corpus())
    runs = run_pair(payload, TRAIN, TRAIN_RESULTS)
    seen = runs["interrupted"].pop("events")
    runs["straight"].pop("events")
    assert "JOB_SUSPENDED" in seen and "JOB_RESUMED" in seen
    workdir = payload.state_dir / "jobs" / "interrupted"
    assert "resumed from step" in (workdir / "stdout.log").read_text()
    assert runs["interrupted"] == runs["straight"]  # the model, the losses, the samples
    losses = json.loads((workdir / "losses.json").read_text())["losses"]
    assert [step for step, _, _ in losses] == [100, 200, 300]
    assert losses[-1][1] < losses[0][1]  # it learnt
    # the results go down with their SHA-256 (RESULTS.json), stdout and stderr besides
    listed = {r["path"]: r for r in payload.ctl.runner.jobs["interrupted"].results()}
    assert set(listed) == {"stdout.log", "stderr.log", *TRAIN_RESULTS}


def test_text_generated_from_an_uplinked_model_resumes_to_the_same_text(payload, tmp_path):
    (payload.state_dir / "files").mkdir(parents=True, exist_ok=True)
    (payload.state_dir / "files" / "corpus.txt").write_text(corpus())
    install(payload, "char-gpt", "char_gpt.py")
    train = {"id": "train", "command": TRAIN, "inputs": ["corpus.txt"], "time_limit_s": 86400,
             "results": [{"path": "model.safetensors"}]}  # fmt: skip
    submitted(payload, train)
    run_to_end(payload, "train", limit_s=240)
    model = payload.state_dir / "jobs" / "train" / "model.safetensors"
    (payload.state_dir / "files" / "gpt.safetensors").write_bytes(model.read_bytes())  # uplinked
    generate = ["char-gpt", "generate", "--model", "gpt.safetensors", "--chars", "400"]
    runs = run_pair(payload, generate, ("generated.txt",))
    seen = runs["interrupted"].pop("events")
    runs["straight"].pop("events")
    assert "JOB_SUSPENDED" in seen and "JOB_RESUMED" in seen
    assert runs["interrupted"] == runs["straight"]
    text = (payload.state_dir / "jobs" / "interrupted" / "generated.txt").read_text()
    assert text.startswith("\n") and len(text) == 401


def test_bad_input_ends_the_job_with_one_clear_line(payload):
    install(payload, "char-gpt", "char_gpt.py")
    (payload.state_dir / "files").mkdir(parents=True, exist_ok=True)
    (payload.state_dir / "files" / "not-a-model.bin").write_bytes(b"\x00" * 64)
    (payload.state_dir / "files" / "tiny.txt").write_text("abc")
    cases = {
        "no-model": (["generate", "--model", "not-a-model.bin"], "is not a char-gpt model"),
        "too-short": (["train", "--text", "tiny.txt"], "too short"),
        "bad-heads": (["train", "--text", "tiny.txt", "--embd", "10", "--heads", "3"], "multiple"),
        "zero-batch": (["train", "--text", "tiny.txt", "--batch", "0"], "out of range: --batch"),
    }
    for job_id, (args, said) in cases.items():
        inputs = [args[args.index("--model" if "generate" in args else "--text") + 1]]
        manifest = {"id": job_id, "command": ["char-gpt", *args], "inputs": inputs}
        submitted(payload, manifest)
        run_to_end(payload, job_id, limit_s=120)
        job = payload.ctl.runner.jobs[job_id]
        err = (payload.state_dir / "jobs" / job_id / "stderr.log").read_text()
        assert job.state is JobState.FAILED and job.rec.exit_code != 0, err
        assert err.startswith("char-gpt: ") and said in err and "Traceback" not in err, err
        assert err.count("\n") == 1, err


def on_the_simulated_h100(p) -> None:
    """The simulated H100 at work, the training text uplinked and the GPT installed."""
    p.allowance = 720.0
    (p.state_dir / "files").mkdir(parents=True, exist_ok=True)
    (p.state_dir / "files" / "corpus.txt").write_text(corpus())
    install(p, "char-gpt", "char_gpt.py")


def upset_manifest(p, job_id: str, integrity: dict, interval_s: float) -> dict:
    """A GPT training job that takes the simulated GPU's weight upsets."""
    return {
        "id": job_id,
        "command": TRAIN,
        "inputs": ["corpus.txt"],
        "checkpoint": {"interval_s": interval_s, "cost_s": 1},
        "time_limit_s": 86400,
        "integrity": integrity,
        "env": {"SIM_GPU_UPSETS": str(upset_box(p.state_dir))},
        "results": [{"path": name} for name in TRAIN_RESULTS],
    }


def test_abft_catches_a_weight_upset_and_the_rerun_ends_bit_identical(sim_payload):
    p = sim_payload
    on_the_simulated_h100(p)
    digests = {}
    for job_id in ("clean", "hit"):
        submitted(p, upset_manifest(p, job_id, {"policy": "abft"}, 60))
        seen, sent, deadline = [], False, time.monotonic() + 240
        while p.ctl.runner.jobs[job_id].state is not JobState.COMPLETED:
            assert p.ctl.runner.jobs[job_id].state in (JobState.QUEUED, JobState.RUNNING), seen
            assert time.monotonic() < deadline, seen
            if job_id == "hit" and "JOB_CHECKPOINTED" in seen and not sent:
                send_fault(p.state_dir, {"upset": "weights", "seed": 10})  # an exponent bit
                sent = True
            seen += [n for n, _ in events(p.tick())]
            time.sleep(0.02)
        workdir = p.state_dir / "jobs" / job_id
        digests[job_id] = {name: sha256(workdir / name) for name in TRAIN_RESULTS}
        if job_id == "hit":
            assert seen.count("JOB_SDC_DETECTED") == 1, seen
            assert seen.index("JOB_SDC_DETECTED") < seen.index("JOB_RESUMED"), seen
            assert "silent data corruption caught" in (workdir / "stderr.log").read_text()
            assert p.ctl.runner.sdc_detected == 1 and not p.ctl.runner.jobs["hit"].rec.suspect
    assert digests["hit"] == digests["clean"]  # caught, rerun from its checkpoint: as if never hit


def test_corruption_caught_again_and_again_fails_the_job(payload):
    payload.install_job("always-corrupt", "exit 86\n")
    manifest = {"id": "bad", "command": ["always-corrupt"], "integrity": {"policy": "abft"}}
    submitted(payload, manifest)
    said = []
    while payload.ctl.runner.jobs["bad"].state not in (JobState.FAILED, JobState.COMPLETED):
        said += [(t.name, t.values) for t in payload.tick() if t.event is not None]
    detected = [v for n, v in said if n == "JOB_SDC_DETECTED"]
    assert [v["reruns"] for v in detected] == [1, 2, 3, 4]
    assert {v["check"] for v in detected} == {"abft"}
    assert [n for n, _ in said].count("JOB_REQUEUED") == 3
    job = payload.ctl.runner.jobs["bad"]
    assert job.state is JobState.FAILED and job.rec.exit_code == 86 and job.rec.failures == 0
    plain = {"id": "plain", "command": ["always-corrupt"]}  # no policy: 86 is a plain failure
    submitted(payload, plain)
    while payload.ctl.runner.jobs["plain"].state is not JobState.FAILED:
        said += [(t.name, t.values) for t in payload.tick() if t.event is not None]
    assert [n for n, _ in said].count("JOB_SDC_DETECTED") == 4


def until(payload, done, limit_s: float = 240.0) -> list[str]:
    """Tick until ``done(the events seen meanwhile)``; those events."""
    deadline, seen = time.monotonic() + limit_s, []
    while not done(seen):
        assert time.monotonic() < deadline, seen
        seen += [n for n, _ in events(payload.tick())]
        time.sleep(0.02)
    return seen


def test_checkpoint_replay_catches_a_weight_upset_and_the_job_ends_bit_identical(sim_payload):
    """Checkpoints come from two suspensions (interval_s 0: only when asked), so the run has
    three intervals however fast the machine is; the upset lands in the second."""
    p = sim_payload
    on_the_simulated_h100(p)
    digests = {}
    for job_id, integrity in (("clean", {"policy": "none"}),
                              ("hit", {"policy": "checkpoint-replay", "sample": 1.0})):  # fmt: skip
        submitted(p, upset_manifest(p, job_id, integrity, 0))
        job, seen = p.ctl.runner.jobs[job_id], []
        if job_id == "hit":
            for upset in (False, True):
                seen += until(p, lambda _, rec=job.rec, was=job.rec.progress: rec.progress > was)
                if upset:  # taken at its next step: between the two checkpoints
                    send_fault(p.state_dir, {"upset": "weights", "seed": 3})
                    seen += until(p, lambda _: any(upset_box(p.state_dir).glob("*.applied")))
                p.ctl.runner.suspend(p.time, "test: power")  # a checkpoint, then it stops
                seen += until(p, lambda new: "JOB_RESUMED" in new)
        seen += run_to_end(p, job_id, limit_s=400)
        workdir = p.state_dir / "jobs" / job_id
        digests[job_id] = {name: sha256(workdir / name) for name in TRAIN_RESULTS}
    job = p.ctl.runner.jobs["hit"]
    assert seen.count("JOB_SDC_DETECTED") == 1 and seen.count("JOB_VERIFYING") == 2, seen
    assert job.state is JobState.COMPLETED and not job.rec.suspect, job.rec
    assert len(list(upset_box(p.state_dir).glob("*.applied"))) == 1
    assert p.ctl.runner.sdc_detected == 1
    assert digests["hit"] == digests["clean"]  # caught, run again from before it: as if never hit
