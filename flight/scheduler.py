"""Which waiting job to start: priority, then deadline, then age; and, with the bus's eclipse
predictions, energy-aware: prefer work that finishes before the next eclipse the GPU cannot run
through, start a checkpointable job only with time for a useful stretch and its checkpoint, and
start nothing that would only be cut off.

The same scheduler without predictions (``eclipse_predictions = False``) is the baseline of the
energy-aware scheduling figures (docs/performance.md).
"""

from __future__ import annotations

from flight.dictionary import NONE_AHEAD
from flight.governor import BusState
from flight.jobs.job import Job

FIT_MARGIN_S = 10.0  # a job "fits" before the eclipse with this much to spare
MIN_USEFUL_S = 120.0  # a checkpointable job is started only if it can run this long first


def remaining_s(job: Job) -> float:
    """Expected bus seconds left: the declared run time less what its checkpoint holds."""
    spec, rec = job.spec, job.rec
    if spec.simulated:
        done = rec.checkpoint_work / spec.simulated_work_s
    else:
        done = rec.progress if rec.checkpoint is not None else 0.0
    return spec.expected_runtime_s * (1.0 - min(1.0, done))


def _meets_deadline(job: Job, now: float, extra_s: float = 0.0) -> bool:
    deadline = job.spec.deadline
    return deadline is None or now + remaining_s(job) + extra_s <= deadline


class Scheduler:
    """Chooses the next job (``jobs`` come in the plain order)."""

    def __init__(self, eclipse_predictions: bool, checkpoint_lead_s: float) -> None:
        self.eclipse_predictions = eclipse_predictions
        self.checkpoint_lead_s = checkpoint_lead_s

    def choose(
        self, jobs: list[Job], now: float, bus: BusState, eclipse_stops_gpu: bool
    ) -> Job | None:
        """The job to start now, or None to leave the GPU idle."""
        if not jobs:
            return None
        if (
            not self.eclipse_predictions
            or not eclipse_stops_gpu
            or not bus.sunlit
            or bus.eclipse_in_s == NONE_AHEAD
        ):
            return next((j for j in jobs if _meets_deadline(j, now)), jobs[0])
        window = bus.eclipse_in_s - FIT_MARGIN_S
        fits = [j for j in jobs if remaining_s(j) <= window]
        for job in fits:
            if _meets_deadline(job, now):
                return job
        for job in jobs:
            policy = job.spec.checkpoint
            if (
                job not in fits
                and policy is not None
                and window >= policy.cost_s + self.checkpoint_lead_s + MIN_USEFUL_S
                and _meets_deadline(job, now, bus.eclipse_s)
            ):
                return job
        return fits[0] if fits else None
