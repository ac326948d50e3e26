"""A job as the runner holds it: its stored record, its parsed manifest, its directory, how it
executes (a process or a simulation), and what supervision keeps while it runs."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flight.dictionary import FailureCode, JobState
from flight.jobs.manifest import JobSpec
from flight.jobs.process import JobProcess
from flight.jobs.store import JobRecord, StoreError

if TYPE_CHECKING:
    from flight.jobs.execution import Execution


class JobRejected(Exception):
    """A job command that cannot be carried out: the PUS 1 failure code and the reason."""

    def __init__(self, code: FailureCode, reason: str):
        super().__init__(reason)
        self.code = code


@dataclass
class Job:
    """A job: its record (what is stored) and what the runner keeps while it runs."""

    rec: JobRecord
    spec: JobSpec
    workdir: Path
    execution: Execution
    process: JobProcess | None = None
    checkpoint_asked_at: float | None = None  # SIGUSR1 sent (a simulated job: checkpointing)
    term_at: float | None = None  # SIGTERM sent
    killed: bool = False  # SIGKILL sent
    since_checkpoint_s: float = 0.0

    @property
    def state(self) -> JobState:
        """The job's state."""
        return self.rec.state

    def summary(self) -> dict[str, Any]:
        """The job as it appears in a JOB_LIST report."""
        r = self.rec
        return {
            "id": r.id,
            "state": r.state.name,
            "priority": r.priority,
            "exit_code": r.exit_code,
            "queued_at": r.queued_at,
            "started_at": r.started_at,
            "ended_at": r.ended_at,
            "progress": round(r.progress, 4),
        }

    def detail(self) -> dict[str, Any]:
        """The job as it appears in a JOB_DETAIL report."""
        r = self.rec
        return self.summary() | {
            "manifest": r.manifest,
            "attempts": r.attempts,
            "failures": r.failures,
            "run_s": r.run_s,
            "checkpoint": r.checkpoint,
            "suspect": r.suspect,
            "results": self.results(),
            "reason": r.reason,
            "verifies": r.verifies[0] if r.verifies else None,
        }

    def results(self) -> list[dict[str, Any]]:
        """The result files there are, with their downlink priorities."""
        return self.execution.result_files(self)


@contextlib.contextmanager
def unchanged_on_store_error(job: Job) -> Iterator[None]:
    """The job's record as it was if the body's store write fails (memory follows the disk)."""
    saved = dataclasses.replace(job.rec)
    try:
        yield
    except StoreError:
        job.rec = saved
        raise
