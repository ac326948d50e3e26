"""Sample job: a checkpointable training loop (logistic regression by gradient descent, numpy),
following the payload's job protocol (docs/jobs.md).

- $JOB_READY_FILE: made once the handlers below are in place (checkpoints are asked only then).
- SIGUSR1: write a checkpoint at the next step boundary and name it in $JOB_CHECKPOINT_DIR/LATEST.
- SIGTERM: checkpoint, then exit 143 (the controller's grace period is for this).
- $JOB_RESUME: the checkpoint to start from. Progress goes to $JOB_PROGRESS_FILE.
- Result: model.npz and metrics.json in the job directory.
"""

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def checkpoint(directory: Path, step: int, weights: np.ndarray) -> None:
    name = f"step-{step:07d}.npz"
    with open(directory / name, "wb") as f:
        np.savez(f, step=step, weights=weights)
    write_atomically(directory / "LATEST", name.encode() + b"\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    ckpt_dir = Path(os.environ.get("JOB_CHECKPOINT_DIR", "checkpoints"))
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    progress = Path(os.environ.get("JOB_PROGRESS_FILE", "progress"))
    asked: list[str] = []
    signal.signal(signal.SIGUSR1, lambda *_: asked.append("checkpoint"))
    signal.signal(signal.SIGTERM, lambda *_: asked.append("stop"))
    Path(os.environ.get("JOB_READY_FILE", "ready")).touch()  # SIGUSR1 is handled from now on

    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(args.samples, args.features))
    truth = rng.normal(size=args.features)
    y = (x @ truth > 0).astype(float)
    weights, step = np.zeros(args.features), 0
    if os.environ.get("JOB_RESUME"):
        with np.load(os.environ["JOB_RESUME"]) as saved:
            weights, step = saved["weights"], int(saved["step"])
        print(f"resumed from step {step}", flush=True)
    while step < args.steps:
        p = 1.0 / (1.0 + np.exp(-(x @ weights)))
        weights -= 0.5 * x.T @ (p - y) / args.samples
        step += 1
        if step % 50 == 0:
            write_atomically(progress, f"{step / args.steps:.4f}\n".encode())
        while asked:
            what = asked.pop(0)
            checkpoint(ckpt_dir, step, weights)
            if what == "stop":
                print(f"stopped at step {step}", flush=True)
                return 143
    accuracy = float((((x @ weights) > 0) == y).mean())
    with open("model.npz", "wb") as f:
        np.savez(f, weights=weights)
    Path("metrics.json").write_text(json.dumps({"steps": step, "accuracy": accuracy}))
    print(f"done: {step} steps, accuracy {accuracy:.3f}", flush=True)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # Python's shutdown would put back "kill"
    return 0


if __name__ == "__main__":
    sys.exit(main())
