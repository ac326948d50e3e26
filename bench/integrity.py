"""Benchmark of the payload's integrity checks on the AI sample job (hil/sample_jobs/char_gpt.py,
PyTorch; on the CPU here): what each catches of injected silent upsets, and what it costs.

Part 1, detection. A model is trained by the job itself (a real process). Then, in this process,
with the job's own code: N single-bit upsets (default 1 000), each in one float32 weight chosen
by its seed exactly as the bench's simulated GPU chooses them (``flip_bit``), each followed by a
training batch's forward pass and the check made before a checkpoint is written. An upset is
caught when ABFT raises; with no policy nothing is checked, and nothing is caught. An upset that
moves the batch's loss by no more than float rounding (1e-6 of it) is counted apart as benign:
it changes the octets of the state, not what the model computes.

Part 2, cost. The job's training run as a real process with ``JOB_INTEGRITY=abft`` against the
same run without, alternating, ``--runs`` of each; the seconds per step of the training loop (as
the job reports its tokens/s); the ratio of the medians is ABFT's extra compute. Both runs end
with the same octets (the checks only observe): checked here too.

Part 3, detection by verification runs. A small model's run is cut into intervals by
checkpoints, made with the job's own code in this process exactly as the controller's
verification runs make them (resumed from $JOB_RESUME, stopped at $JOB_REPLAY_TO). Each of N
upsets (default 1 000) lands in one float32 weight (``flip_bit``) at a step chosen by its seed;
the interval it lands in is run on from there, corrupted, to its end, and on to the results.
- checkpoint-replay: caught when the controller's own plan (flight/jobs/verification.py, the job
  id and sampling as a real job's) samples that interval and its end state's SHA-256 differs from
  the replay's. The replay starts from the checkpoint before the upset, which is clean, and is
  deterministic on the CPU (tests/flight/test_ai_jobs.py shows it bit-identical), so the replay's
  digest is the clean run's.
- redundant: caught when the results' SHA-256 differ from a clean run's (which the redundant run
  reproduces, as above).

Part 4, checkpoint-replay's cost at its default sampling, with real processes: the job's whole
run against the replays the controller's plan samples (each a process resumed from its
checkpoint), as the job reports its training loop's time (the compute) and as wall time (with
each process's start-up).

Targets (the issue's): redundant and checkpoint-replay (at its default sampling) each catch at
least 99% of the upsets; checkpoint-replay costs at most 15% extra compute at its default
sampling. The script prints each against its target and exits non-zero when one is missed, or
when a run fails or the two runs of part 2 disagree.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from flight.dictionary import JobState
from flight.jobs.execution import SimulatedExecution
from flight.jobs.job import Job
from flight.jobs.manifest import DEFAULT_REPLAY_SAMPLE, parse_manifest
from flight.jobs.store import JobRecord
from flight.jobs.verification import plan

JOB = Path(str(resources.files("hil").joinpath("sample_jobs", "char_gpt.py")))
TEXT = Path(__file__).resolve().parent.parent / "docs"  # the project's docs: the training text
MODEL = ["--layers", "2", "--heads", "2", "--embd", "64", "--block", "64", "--batch", "16",
         "--eval-every", "100", "--eval-batches", "2", "--sample-chars", "50"]  # fmt: skip
SMALL = ["--layers", "2", "--heads", "2", "--embd", "32", "--block", "32", "--batch", "8",
         "--eval-every", "100000", "--eval-batches", "1", "--sample-chars", "20"]  # fmt: skip
RESULTS = ("model.safetensors", "losses.json", "samples.txt")
SHORT_TEXT = 20_000  # characters of the training text part 3 uses
DETECTION_TARGET = 0.99
REPLAY_COST_TARGET = 0.15


def job_module():  # noqa: ANN201 (the sample job, loaded as a module)
    spec = importlib.util.spec_from_file_location("char_gpt", JOB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(work: Path, steps: int, **env: str) -> tuple[float, str]:
    """One training run of the job as a process: the seconds its training loop took per step (as
    the job reports it: tokens/s, start-up and results aside) and its model's SHA-256."""
    work.mkdir(parents=True, exist_ok=True)
    text = str(work.parent / "corpus.txt")
    printed = process(work, ["train", "--text", text, "--steps", str(steps), *MODEL], **env)
    return loop_seconds(printed, 1), digest(work / "model.safetensors")


def detection(cg, model_path: Path, upsets: int) -> dict:
    """Part 1: each upset in a fresh copy of the trained weights, then a forward pass."""
    import torch
    from torch.nn import functional as F

    tensors, meta = cg.read_state(model_path)
    cfg, vocab = meta["settings"], meta["vocab"]
    clean = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    model = cg.CharGPT(len(vocab), cfg["block"], cfg["layers"], cfg["heads"], cfg["embd"], 0.0)
    model.load_state_dict(clean)
    model.eval()
    text = (TEXT / "jobs.md").read_text()
    data = cg.encode_text("".join(ch for ch in text if ch in vocab), vocab)
    x, y = cg.batch_of(data, cfg, torch.Generator().manual_seed(1), torch.device("cpu"))
    with torch.no_grad():
        reference = F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
    abft = cg.Abft(model)
    plain = cg.CharGPT(len(vocab), cfg["block"], cfg["layers"], cfg["heads"], cfg["embd"], 0.0)
    plain.eval()  # the same weights, unchecked: what the upset does to the loss
    counts = {"upsets": 0, "caught": 0, "benign": 0, "caught_consequential": 0, "bits": {}}
    for seed in range(upsets):
        model.load_state_dict(clean)
        abft.refresh()
        where = cg.flip_bit(model, seed)
        plain.load_state_dict(model.state_dict())
        with torch.no_grad():
            loss = F.cross_entropy(plain(x).flatten(0, 1), y.flatten()).item()
            try:
                model(x)
                abft.verify_weights()
                caught = False
            except cg.SilentCorruption:
                caught = True
        benign = abs(loss - reference) <= 1e-6 * abs(reference)
        counts["upsets"] += 1
        counts["caught"] += caught
        counts["benign"] += benign
        counts["caught_consequential"] += caught and not benign
        bit = counts["bits"].setdefault(str(where["bit"]), [0, 0])
        bit[0], bit[1] = bit[0] + 1, bit[1] + caught
    return counts


def in_process(cg, work: Path, argv: list[str], **env: str) -> str:
    """The job's main() in this process, in ``work``, with ``argv`` and the job environment
    ``env`` (nothing else of a job's); what it printed."""
    work.mkdir(parents=True, exist_ok=True)
    saved = os.environ.copy(), sys.argv, os.getcwd()
    for key in [k for k in os.environ if k.startswith(("JOB_", "SIM_GPU_"))]:
        del os.environ[key]
    os.environ.update({"JOB_CHECKPOINT_DIR": str(work), "JOB_READY_FILE": str(work / "ready")})
    os.environ.update(env)
    sys.argv = ["char-gpt", *argv]
    os.chdir(work)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = cg.main()
    finally:
        os.environ.clear()
        os.environ.update(saved[0])
        sys.argv = saved[1]
        os.chdir(saved[2])
    if code != 0:
        raise SystemExit(f"integrity bench: the job ended {code}: {out.getvalue()[-300:]}")
    return out.getvalue()


def step_name(step: int) -> str:
    return f"step-{step:07d}.safetensors"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Chain:
    """A clean run cut into ``intervals`` of ``length`` steps: the checkpoints between them, made
    as verification runs make them, and the results' digests."""

    def __init__(
        self, cg, work: Path, text: Path, model: list[str], intervals: int, length: int
    ) -> None:
        self.cg, self.work, self.length, self.intervals = cg, work, length, intervals
        self.argv = ["train", "--text", str(text), *model, "--steps", str(intervals * length)]
        self.names = [step_name(i * length) for i in range(1, intervals)]
        self.digests = []
        for i, name in enumerate(self.names):
            self.run(work / "clean", self.start(i), name)
            self.digests.append(digest(work / "clean" / name))
        self.run(work / "clean", self.start(intervals - 1), None)
        self.results = self.result_digests(work / "clean")

    def start(self, interval: int) -> str | None:
        """The clean checkpoint interval ``interval`` (0-based) starts from (None: the start)."""
        return str(self.work / "clean" / self.names[interval - 1]) if interval else None

    def run(self, work: Path, resume: str | None, to: str | None, **env: str) -> str:
        env |= {"JOB_RESUME": resume} if resume else {}
        env |= {"JOB_REPLAY_TO": to} if to else {}
        return in_process(self.cg, work, self.argv, **env)

    @staticmethod
    def result_digests(work: Path) -> list[str]:
        return [digest(work / name) for name in RESULTS]

    def record(self, job_id: str, sample: float) -> Job:
        """A job record as the controller holds it when the job's process has ended 0."""
        manifest = {"id": job_id, "command": ["char-gpt"], "checkpoint": {"interval_s": 600},
                    "results": [{"path": name} for name in RESULTS],
                    "integrity": {"policy": "checkpoint-replay", "sample": sample}}  # fmt: skip
        rec = JobRecord(job_id, 1, manifest, JobState.RUNNING, 100, 0.0, attempts=1)
        rec.checkpoints = [[n, d] for n, d in zip(self.names, self.digests, strict=True)]
        return Job(rec, parse_manifest(manifest), self.work, SimulatedExecution())


def verification_detection(cg, work: Path, upsets: int, samples: list[float]) -> dict:
    """Part 3: each upset's interval run on, corrupted, to its end and to the results."""
    text = work / "short.txt"  # a short text: each of the many runs reads and encodes it
    work.mkdir(parents=True, exist_ok=True)
    text.write_text((work.parent / "corpus.txt").read_text()[:SHORT_TEXT])
    chain = Chain(cg, work, text, SMALL, intervals=10, length=4)
    box = work / "box"
    box.mkdir()

    counts = {"upsets": upsets, "redundant": 0, "crashed": 0, "unchanged": 0,
              "replay": dict.fromkeys(map(str, samples), 0)}  # fmt: skip
    started = time.monotonic()
    for seed in range(upsets):
        rng = random.Random(seed)
        interval, offset = rng.randrange(chain.intervals), rng.randrange(chain.length)
        hit = work / "hit"
        at = interval * chain.length + offset
        resume = chain.start(interval)
        if offset:  # clean up to the step the upset lands at
            chain.run(hit, resume, step_name(at))
            resume = str(hit / step_name(at))
        (box / f"{seed}.upset").write_text(json.dumps({"seed": seed}))
        last = interval == chain.intervals - 1
        end = None if last else chain.names[interval]
        differs, crashed = False, False
        try:
            chain.run(hit, resume, end, SIM_GPU_UPSETS=str(box))
            if not last:
                differs = digest(hit / end) != chain.digests[interval]
                chain.run(hit, str(hit / end), None)  # on to the results, corrupted
            results_differ = chain.result_digests(hit) != chain.results
            differs = differs or (last and results_differ)
        except SystemExit as exc:  # the job ended on a non-finite loss: no results at all
            if "not finite" not in str(exc):
                raise
            crashed = results_differ = True
        counts["crashed"] += crashed
        counts["unchanged"] += not results_differ
        counts["redundant"] += results_differ
        for sample in samples:
            picked, _ = plan(chain.record(f"bench-{seed}", sample), full_record=False)
            sampled = any(i.end == end for i in picked)
            counts["replay"][str(sample)] += crashed or (sampled and differs)
        for path in hit.iterdir():
            path.unlink()
    counts["seconds"] = time.monotonic() - started
    return counts


def replay_cost(cg, work: Path, runs: int) -> dict:
    """Part 4: the job's run as a process against the replays its default sample asks for."""
    chain = Chain(cg, work, work.parent / "corpus.txt", MODEL, intervals=20, length=50)
    compute, wall = {"job": [], "replays": []}, {"job": [], "replays": []}
    for run in range(runs):
        job_dir = work / f"job-{run}"
        job_dir.mkdir()
        began = time.monotonic()
        done = process(job_dir, chain.argv)
        wall["job"].append(time.monotonic() - began)
        compute["job"].append(loop_seconds(done, 20 * 50))
        picked, _ = plan(chain.record(f"cost-{run}", DEFAULT_REPLAY_SAMPLE), full_record=False)
        replay_compute = replay_wall = 0.0
        for n, interval in enumerate(picked):
            replay_dir = work / f"replay-{run}-{n}"
            replay_dir.mkdir()
            env = {"JOB_RESUME": str(work / "clean" / interval.start)} if interval.start else {}
            env |= {"JOB_REPLAY_TO": interval.end} if interval.end else {}
            began = time.monotonic()
            done = process(replay_dir, chain.argv, **env)
            replay_wall += time.monotonic() - began
            replay_compute += loop_seconds(done, chain.length)
            if (
                interval.end
                and digest(replay_dir / interval.end)
                != chain.digests[chain.names.index(interval.end)]
            ):
                raise SystemExit("integrity bench: a clean replay disagreed with its job")
        compute["replays"].append(replay_compute)
        wall["replays"].append(replay_wall)
    return {
        "intervals": chain.intervals,
        "replayed": len(picked),
        "compute_s": {k: statistics.median(v) for k, v in compute.items()},
        "wall_s": {k: statistics.median(v) for k, v in wall.items()},
    }


def process(work: Path, argv: list[str], **env: str) -> str:
    """The job as a process (its checkpoints in ``work``); what it printed."""
    done = subprocess.run(
        [sys.executable, str(JOB), *argv], cwd=work, capture_output=True, text=True,
        timeout=3600, env=os.environ | {"JOB_CHECKPOINT_DIR": str(work)} | env,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"integrity bench: a run failed: {done.stderr.strip()}")
    return done.stdout


def loop_seconds(printed: str, steps: int) -> float:
    """The training loop's seconds for ``steps`` steps, from the tokens/s the job printed."""
    rate = float(re.search(r"on \w+: (\d+) tokens/s", printed).group(1))
    setting = dict(zip(MODEL[::2], MODEL[1::2], strict=True))
    return steps * int(setting["--batch"]) * int(setting["--block"]) / rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upsets", type=int, default=1000)
    parser.add_argument("--train-steps", type=int, default=300, help="the model part 1 upsets")
    parser.add_argument("--cost-steps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind in parts 2 and 4")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cg = job_module()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "corpus.txt").write_text("".join(p.read_text() for p in sorted(TEXT.glob("*.md"))))
        train(work / "model", args.train_steps)
        found = detection(cg, work / "model" / "model.safetensors", args.upsets)
        times: dict[str, list[float]] = {"none": [], "abft": []}
        models: set[str] = set()
        for run in range(args.runs):
            for policy in ("none", "abft"):
                env = {"JOB_INTEGRITY": policy} if policy == "abft" else {}
                seconds, digest = train(work / f"{policy}-{run}", args.cost_steps, **env)
                times[policy].append(seconds)
                models.add(digest)
        samples = [DEFAULT_REPLAY_SAMPLE, 1.0]
        verified = verification_detection(cg, work / "part3", args.upsets, samples)
        cost = replay_cost(cg, work / "part4", args.runs)
    upsets, consequential = found["upsets"], found["upsets"] - found["benign"]
    medians = {k: statistics.median(v) for k, v in times.items()}
    figures = {
        "upsets": upsets,
        "abft_caught": found["caught"],
        "abft_rate": found["caught"] / upsets,
        "consequential": consequential,
        "abft_rate_consequential": found["caught_consequential"] / max(consequential, 1),
        "none_caught": 0,
        "by_bit": found["bits"],
        "step_s": medians,
        "abft_extra_compute": medians["abft"] / medians["none"] - 1,
        "same_model_with_and_without": len(models) == 1,
        "crashed": verified["crashed"],
        "unchanged": verified["unchanged"],
        "redundant_caught": verified["redundant"],
        "redundant_rate": verified["redundant"] / upsets,
        "replay_caught": verified["replay"],
        "replay_rate": {k: v / upsets for k, v in verified["replay"].items()},
        "replay_cost": cost,
        "replay_extra_compute": cost["compute_s"]["replays"] / cost["compute_s"]["job"],
        "replay_extra_wall": cost["wall_s"]["replays"] / cost["wall_s"]["job"],
    }
    default = str(DEFAULT_REPLAY_SAMPLE)
    replay_rate = figures["replay_rate"][default]
    targets = {
        "redundant catches >= 99% of upsets": figures["redundant_rate"] >= DETECTION_TARGET,
        f"checkpoint-replay (sample {default}) catches >= 99% of upsets": replay_rate
        >= DETECTION_TARGET,
        f"checkpoint-replay (sample {default}) costs <= 15% extra compute": (
            figures["replay_extra_compute"] <= REPLAY_COST_TARGET
        ),
    }
    figures["targets"] = targets
    print(f"Part 1: {upsets} single-bit upsets in the weights of a trained char-gpt")
    print(f"  abft caught {found['caught']} ({figures['abft_rate']:.1%}); of the "
          f"{consequential} that change the loss, {found['caught_consequential']} "
          f"({figures['abft_rate_consequential']:.1%}); no policy caught 0 (0.0%)")  # fmt: skip
    exponent = sum(v[1] for b, v in found["bits"].items() if 23 <= int(b) <= 30)
    exponent_all = sum(v[0] for b, v in found["bits"].items() if 23 <= int(b) <= 30)
    print(f"  exponent bits: {exponent} of {exponent_all} caught")
    print(f"Part 2: {args.cost_steps} training steps, {args.runs} runs each, medians")
    print(f"  per step: none {medians['none'] * 1e3:.2f} ms, abft {medians['abft'] * 1e3:.2f} ms: "
          f"abft costs {figures['abft_extra_compute']:+.1%}; same model octets: "
          f"{figures['same_model_with_and_without']}")  # fmt: skip
    print(f"Part 3: {upsets} single-bit upsets in a training run of {10} intervals, "
          f"{verified['seconds']:.0f} s")  # fmt: skip
    print(f"  {verified['crashed']} ended the job (a non-finite loss: no results, under any "
          f"policy); {verified['unchanged']} left the results as they were")  # fmt: skip
    print(f"  redundant caught {verified['redundant']} ({figures['redundant_rate']:.1%})")
    for sample, caught in verified["replay"].items():
        print(f"  checkpoint-replay, sample {sample}: caught {caught} ({caught / upsets:.1%})")
    print(f"Part 4: checkpoint-replay at sample {default}: {cost['replayed']} of "
          f"{cost['intervals']} intervals replayed, {args.runs} runs, medians")  # fmt: skip
    print(f"  compute: job {cost['compute_s']['job']:.2f} s, replays "
          f"{cost['compute_s']['replays']:.2f} s: {figures['replay_extra_compute']:+.1%}; "
          f"wall (with each process's start): job {cost['wall_s']['job']:.2f} s, replays "
          f"{cost['wall_s']['replays']:.2f} s: {figures['replay_extra_wall']:+.1%}")  # fmt: skip
    for target, met in targets.items():
        print(f"  target {target}: {'met' if met else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    return 0 if figures["same_model_with_and_without"] and all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
