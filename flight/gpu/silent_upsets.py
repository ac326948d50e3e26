"""The simulated GPU's silent upsets: single-bit flips the HIL bench injects, through the fault
channel, into what a job computes and keeps. Nothing reports them (no ECC, no Xid): catching them
is the integrity checks' work (docs/jobs.md). Only the simulated GPU's fault channel applies
them; a flight build with a real GPU has neither.

- ``weights``: one bit of one weight of the running job's model, in memory. It goes as a file
  into the upset box (``upset_box``), which a sample job given ``SIM_GPU_UPSETS`` (by the bench's
  manifest) empties at its next step boundary (hil/sample_jobs/char_gpt.py).
- ``checkpoint``: one bit of a job's newest checkpoint on disk (the one its LATEST names).
- ``result``: one bit of one of a job's result files on disk.

The seed chooses the bit, so a run can be repeated. Files are touched only where their path is
what it says (no link on the way), as the controller's other reads of a job's directory are. Each
upset applied on disk is appended to the bench's account, ``STATE/sim-gpu-upsets.jsonl`` (the
job, the file, the seed); a weight upset's account is the job's ``*.applied`` file.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from flight.jobs.manifest import JOB_ID_PATTERN
from flight.jobs.sandbox import inside

TARGETS = ("weights", "checkpoint", "result")
BOX = "sim-gpu-upsets"
ACCOUNT = "sim-gpu-upsets.jsonl"


def upset_box(state_dir: Path) -> Path:
    """The directory a job given ``SIM_GPU_UPSETS`` takes its weight upsets from."""
    return state_dir / BOX


class SilentUpsets:
    """Applies upsets to a controller's state directory; counts what it applied, by target."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.applied = dict.fromkeys(TARGETS, 0)
        self._sent = 0

    def apply(self, message: dict) -> str:
        """``{"upset": TARGET, "seed": N}``, with ``"job": ID`` for checkpoint and result, and
        ``"path": RESULT`` for result; the target's name (ValueError when it cannot be
        applied)."""
        target, seed = message["upset"], int(message["seed"])
        if target not in TARGETS:
            raise ValueError(f"unknown upset target {target!r}")
        if target == "weights":
            self._to_box(seed)
        else:
            job = str(message["job"])
            if not JOB_ID_PATTERN.fullmatch(job):
                raise ValueError(f"not a job id: {job!r}")
            workdir = self.state_dir / "jobs" / job
            if target == "checkpoint":
                latest = (workdir / "checkpoints" / "LATEST").read_text().strip()
                relative = f"checkpoints/{latest}"
            else:
                relative = str(message["path"])
            flip_bit(workdir, relative, seed)
            record = {"upset": target, "job": job, "path": relative, "seed": seed}
            with open(self.state_dir / ACCOUNT, "a") as account:
                account.write(json.dumps(record) + "\n")
        self.applied[target] += 1
        return f"upset_{target}"

    def _to_box(self, seed: int) -> None:
        box = upset_box(self.state_dir)
        box.mkdir(exist_ok=True)
        box.chmod(0o1777)  # the job's own account takes its upsets out (bench only)
        self._sent += 1
        name = f"{os.getpid()}-{self._sent:06d}"
        tmp = box / f"{name}.tmp"
        tmp.write_text(json.dumps({"seed": seed}))
        tmp.replace(box / f"{name}.upset")


def flip_bit(workdir: Path, relative: str, seed: int) -> None:
    """Flip one bit, chosen by ``seed``, of a file in a job's directory, in place."""
    if not inside(workdir, relative):
        raise ValueError(f"{relative}: not a file of the job's own")
    fd = os.open(workdir / relative, os.O_RDWR | os.O_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise ValueError(f"{relative}: empty, no bit to flip")
        rng = random.Random(seed)
        offset, bit = rng.randrange(size), rng.randrange(8)
        (octet,) = os.pread(fd, 1, offset)
        os.pwrite(fd, bytes([octet ^ (1 << bit)]), offset)
    finally:
        os.close(fd)
