"""Verification runs of the redundant and checkpoint-replay integrity policies (docs/jobs.md,
Integrity): which runs a job whose process ended 0 gets, and what each run's end says.

- redundant: the whole job once more, from its start, in a directory of its own; each result it
  declares must have the SHA-256 the job's own has.
- checkpoint-replay: the job's run is a chain of intervals, from its start through the
  checkpoints it recorded to its end. A seeded random sample of them (``replay_sample`` of them,
  at least one) is run again, each from the checkpoint that starts it ($JOB_RESUME, its digest
  checked as any resume's is) to the one that ends it ($JOB_REPLAY_TO): that checkpoint's SHA-256
  must be the one recorded when the job named it. The last interval ends in the results, which
  are compared as redundant compares them.

A verification run is a job of its own in the store, ``JOB+vN``: suspension, restarts, retries
and the one-job-at-a-time rule treat it as any job. Its record's ``verifies`` names the job, the
interval, the digest it must reproduce and the job's attempt it checks (its round). It has no
results of its own on the downlink.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from flight.jobs.execution import CHECKPOINT_DIR
from flight.jobs.job import Job
from flight.jobs.sandbox import inside, own_sha256

SEPARATOR = "+"  # in a verification run's id; never in an id the ground gives (JOB_ID_PATTERN)
AGREES = "agrees with the job"
DISAGREES = "disagrees with the job"
CANNOT_TELL = "cannot verify: "  # and why


@dataclass(frozen=True)
class Interval:
    """Part of a job's run to do again: from a checkpoint (None: the start) to a checkpoint
    (None: the end, its results), with the SHA-256 recorded for the checkpoint it ends at."""

    start: str | None
    end: str | None
    digest: str | None = None


def plan(job: Job, full_record: bool) -> tuple[list[Interval], int]:
    """The intervals to run again for a job whose process ended 0, and how many its run had.
    ``full_record``: the job's record of checkpoints has been cut to its newest ones, so the
    interval from the start is not one interval (it is never sampled)."""
    spec, rec = job.spec, job.rec
    if spec.integrity == "redundant":
        return [Interval(None, None)], 1
    named = [(name, digest) for name, digest in rec.checkpoints if digest is not None]
    chain = [Interval(None, name, digest) for name, digest in named[:1]]
    chain += [
        Interval(start, end, digest)
        for (start, _), (end, digest) in zip(named, named[1:], strict=False)
    ]
    if spec.results:  # the last interval ends in results, which it compares
        chain.append(Interval(named[-1][0] if named else None, None))
    if full_record and named:
        chain = chain[1:]
    if not chain:
        return [], 0
    rng = random.Random(f"{rec.id}:{rec.attempts}")  # the same job and attempt, the same sample
    count = max(1, round(spec.replay_sample * len(chain)))
    return [chain[i] for i in sorted(rng.sample(range(len(chain)), count))], len(chain)


def run_id(job_id: str, number: int) -> str:
    """The id of a job's ``number``-th verification run."""
    return f"{job_id}{SEPARATOR}v{number}"


def link_checkpoint(job: Job, name: str, run_dir: Path) -> bool:
    """Give a verification run the job's checkpoint to start from: a hard link in the run's own
    checkpoint directory (no copy; the digest is checked before it is resumed from). False when
    it cannot be linked: the run starts from the beginning instead."""
    relative = f"{CHECKPOINT_DIR}/{name}"
    if not inside(job.workdir, relative):
        return False
    target = run_dir / CHECKPOINT_DIR
    try:
        target.mkdir(parents=True, exist_ok=True)
        os.link(job.workdir / relative, target / name, follow_symlinks=False)
    except FileExistsError:
        return True
    except OSError:
        return False
    return True


def outcome(job: Job, run: Job) -> str:
    """What a verification run that ended 0 says of the job: AGREES, DISAGREES, or CANNOT_TELL
    with the reason."""
    _, _, end, expected, _ = run.rec.verifies
    if end is not None:
        got = {name: digest for name, digest in run.rec.checkpoints}.get(end)
        if got is None:
            return f"{CANNOT_TELL}it named no checkpoint {end}"
        return AGREES if got == expected else DISAGREES
    compared = 0
    for result in job.spec.results:
        mine, theirs = own_sha256(job.workdir, result.path), own_sha256(run.workdir, result.path)
        if mine is None and theirs is None:
            continue
        if mine != theirs:
            return DISAGREES
        compared += 1
    return AGREES if compared else f"{CANNOT_TELL}neither run left a result"
