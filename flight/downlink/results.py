"""The controller's glue to its downlink: every step that writes to the store is guarded (what
cannot be written becomes a STORE_ERROR event, and the step is tried again by its own timers),
and each job that ends has its result files queued, once, even across a restart."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from flight import dictionary as d
from flight.downlink.service import Downlink, file_sha256
from flight.jobs.job import Job
from flight.jobs.runner import JobRunner
from flight.events import EV, Event

log = logging.getLogger("flight")

_RESULT_EVENTS = {"JOB_COMPLETED", "JOB_FAILED", "JOB_TIMED_OUT"}
_RESULT_STATES = {d.JobState.COMPLETED, d.JobState.FAILED, d.JobState.TIMED_OUT}


def _has_results(job: Job) -> bool:
    """A job with files for the ground: not a simulated job (none), nor a verification run
    (its files only check its job's: flight/jobs/verification.py)."""
    return not job.spec.simulated and not job.rec.verifies


class ResultsDownlink:
    """Queues ended jobs' results on ``downlink`` and reports what the store refused."""

    def __init__(self, downlink: Downlink, runner: JobRunner) -> None:
        self.downlink = downlink
        self.runner = runner
        self._record_errors_told = 0  # recording failures already reported by STORE_ERROR

    def guarded(self, action: Callable[[], Any]) -> list[Event]:
        """Run a downlink step: its events, and a STORE_ERROR instead of an exception for what it
        could not write (disk full or failing), or for telemetry that could not be recorded."""
        try:
            events = action() or []
        except (OSError, sqlite3.Error) as exc:
            log.error("downlink: %s", exc)
            events = [EV.STORE_ERROR(reason=f"downlink: {exc}")]
        recorder = self.downlink.recorder
        errors = recorder.errors - self._record_errors_told
        if errors:
            self._record_errors_told = recorder.errors
            reason = f"downlink: {errors} telemetry packets not recorded (disk full or failing)"
            events.append(EV.STORE_ERROR(reason=reason))
        return events

    def queued_after(self, events: list[Event]) -> list[Event]:
        """The job events, each ended job's results checked against the digests it declared
        and queued on the way."""
        for name, values in list(events):
            job = self.runner.jobs.get(values.get("job_id")) if name in _RESULT_EVENTS else None
            if job is not None and _has_results(job):
                events += self._queue(job)
        return events

    def queue_unsent(self) -> list[Event]:
        """After a restart: the results of jobs that ended before their downlink was queued."""
        events: list[Event] = []
        for job in self.runner.jobs.values():
            if job.state in _RESULT_STATES and _has_results(job):
                events += self._queue(job)
        return events

    def _queue(self, job: Job) -> list[Event]:
        return self.guarded(lambda: self._check_and_queue(job))

    def _check_and_queue(self, job: Job) -> list[Event]:
        """Each result hashed once: checked against the digest the job declared for it, then
        listed with it in RESULTS.json (nothing is read for results queued already)."""
        rec, workdir = job.rec, job.workdir
        if self.downlink.results_queued(rec.id, workdir):
            return []
        listed = [{**r, "sha256": file_sha256(workdir / r["path"])} for r in job.results()]
        events = self.runner.check_results(job, {r["path"]: r["sha256"] for r in listed})
        self.downlink.queue_results(rec.id, workdir, listed, rec.suspect)
        return events
