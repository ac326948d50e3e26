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

The redundant and checkpoint-replay policies are not built yet; their figures will join these.
This script states no target of its own yet (the issue's targets are theirs); it exits non-zero
only if a run fails or the two runs of part 2 disagree.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

JOB = Path(str(resources.files("hil").joinpath("sample_jobs", "char_gpt.py")))
TEXT = Path(__file__).resolve().parent.parent / "docs"  # the project's docs: the training text
MODEL = ["--layers", "2", "--heads", "2", "--embd", "64", "--block", "64", "--batch", "16",
         "--eval-every", "100", "--eval-batches", "2", "--sample-chars", "50"]  # fmt: skip


def job_module():  # noqa: ANN201 (the sample job, loaded as a module)
    spec = importlib.util.spec_from_file_location("char_gpt", JOB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(work: Path, steps: int, **env: str) -> tuple[float, str]:
    """One training run of the job as a process: the seconds its training loop took per step (as
    the job reports it: tokens/s, start-up and results aside) and its model's SHA-256."""
    work.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(JOB), "train", "--text", str(work.parent / "corpus.txt"),
         "--steps", str(steps), *MODEL],
        cwd=work, capture_output=True, text=True, timeout=3600,
        env=os.environ | {"JOB_CHECKPOINT_DIR": str(work / "ck")} | env,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"integrity bench: the training run failed: {done.stderr.strip()}")
    rate = re.search(r"trained \d+ steps on \w+: (\d+) tokens/s", done.stdout)
    setting = dict(zip(MODEL[::2], MODEL[1::2], strict=True))
    seconds = int(setting["--batch"]) * int(setting["--block"]) / float(rate.group(1))
    return seconds, hashlib.sha256((work / "model.safetensors").read_bytes()).hexdigest()


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upsets", type=int, default=1000)
    parser.add_argument("--train-steps", type=int, default=300, help="the model part 1 upsets")
    parser.add_argument("--cost-steps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind in part 2")
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
    }
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
    print("  redundant, checkpoint-replay: not built yet")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    return 0 if figures["same_model_with_and_without"] else 1


if __name__ == "__main__":
    sys.exit(main())
