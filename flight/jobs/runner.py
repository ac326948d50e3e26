"""The job runner: a FIFO queue and one job process at a time (one GPU), supervised in bus time.

A job runs as its own process group in its own directory under the state directory, with stdout
and stderr captured to files there. Time limits are bus seconds: past the limit the group gets
SIGTERM, and SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flight.dictionary import FailureCode, JobState
from flight.jobs.manifest import JobSpec

GRACE_S = 10.0
MAX_QUEUE = 64


class JobRejected(Exception):
    """A job that cannot be queued: the PUS 1 failure code and the reason."""

    def __init__(self, code: FailureCode, reason: str):
        super().__init__(reason)
        self.code = code


@dataclass
class Job:
    """A job and its progress, in bus time."""

    spec: JobSpec
    workdir: Path
    queued_at: float
    state: JobState = JobState.QUEUED
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    term_sent_at: float | None = None

    def runtime(self, now: float) -> float:
        """Bus seconds the job has run (so far, or in all)."""
        if self.started_at is None:
            return 0.0
        end = self.ended_at if self.ended_at is not None else now
        return max(0.0, end - self.started_at)  # bus time can step back

    def summary(self) -> dict[str, Any]:
        """The job as it appears in a JOB_LIST report."""
        return {
            "id": self.spec.job_id,
            "state": self.state.name,
            "exit_code": self.exit_code,
            "queued_at": self.queued_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


Event = tuple[str, dict[str, Any]]


class JobRunner:
    """Queues jobs and runs them one at a time."""

    def __init__(self, job_area: Path, work_root: Path, max_queue: int = MAX_QUEUE) -> None:
        self.job_area = job_area
        self.work_root = work_root
        self.max_queue = max_queue
        self.jobs: dict[str, Job] = {}
        self.completed = 0
        self.failed = 0
        self._queue: list[str] = []
        self._running: Job | None = None
        self._last: Job | None = None

    def submit(self, spec: JobSpec, now: float) -> Job:
        """Queue a job; JobRejected with its failure code when it cannot be."""
        if spec.job_id in self.jobs:
            raise JobRejected(FailureCode.JOB_DUPLICATE, f"job {spec.job_id!r} is already known")
        if len(self._queue) >= self.max_queue:
            raise JobRejected(FailureCode.QUEUE_FULL, f"{len(self._queue)} jobs already queued")
        exe = self.job_area / spec.executable
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            raise JobRejected(
                FailureCode.EXECUTABLE_NOT_FOUND,
                f"{spec.executable!r} is not an executable in the job area",
            )
        job = Job(spec, self.work_root / spec.job_id, now)
        self.jobs[spec.job_id] = job
        self._queue.append(spec.job_id)
        return job

    @property
    def queued(self) -> int:
        """Jobs waiting to run."""
        return len(self._queue)

    @property
    def current(self) -> Job | None:
        """The running job, else the last one to run."""
        return self._running or self._last

    def step(self, now: float) -> list[Event]:
        """Supervise at bus time ``now``: reap, enforce the time limit, start the next job."""
        events: list[Event] = []
        if self._running is not None:
            events += self._supervise(self._running, now)
        if self._running is None and self._queue:
            events += self._start(self.jobs[self._queue.pop(0)], now)
        return events

    def _start(self, job: Job, now: float) -> list[Event]:
        job.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.defpath,
            "LANG": "C.UTF-8",
            "HOME": str(job.workdir),
            "JOB_ID": job.spec.job_id,
            "JOB_DIR": str(job.workdir),
        } | job.spec.env
        job.started_at = now
        try:
            with (
                open(job.workdir / "stdout.log", "wb") as out,
                open(job.workdir / "stderr.log", "wb") as err,
            ):
                job.process = subprocess.Popen(
                    [str(self.job_area / job.spec.executable), *job.spec.args],
                    cwd=job.workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
        except OSError as exc:
            job.workdir.joinpath("stderr.log").write_text(f"cannot start: {exc.strerror}\n")
            return self._finish(job, now, JobState.FAILED, -1)
        job.state = JobState.RUNNING
        self._running = job
        return [("JOB_STARTED", {"job_id": job.spec.job_id, "pid": job.process.pid})]

    def _supervise(self, job: Job, now: float) -> list[Event]:
        assert job.process is not None
        code = job.process.poll()
        if code is not None:
            if job.term_sent_at is not None:
                return self._finish(job, now, JobState.TIMED_OUT, code)
            state = JobState.COMPLETED if code == 0 else JobState.FAILED
            return self._finish(job, now, state, code)
        if job.term_sent_at is None and job.runtime(now) > job.spec.time_limit_s:
            self._signal(job, signal.SIGTERM)
            job.term_sent_at = now
        elif job.term_sent_at is not None and now - job.term_sent_at >= GRACE_S:
            self._signal(job, signal.SIGKILL)
        return []

    def _finish(self, job: Job, now: float, state: JobState, code: int) -> list[Event]:
        job.state, job.exit_code, job.ended_at = state, code, now
        self._running, self._last = None, job
        runtime = job.runtime(now)
        if state is JobState.COMPLETED:
            self.completed += 1
            return [("JOB_COMPLETED", {"job_id": job.spec.job_id, "runtime_s": runtime})]
        self.failed += 1
        if state is JobState.TIMED_OUT:
            return [("JOB_TIMED_OUT", {"job_id": job.spec.job_id, "runtime_s": runtime})]
        return [
            ("JOB_FAILED", {"job_id": job.spec.job_id, "exit_code": code, "runtime_s": runtime})
        ]

    @staticmethod
    def _signal(job: Job, sig: signal.Signals) -> None:
        try:
            os.killpg(job.process.pid, sig)
        except ProcessLookupError:
            pass

    def shutdown(self) -> None:
        """Stop the running job's process group (the controller is going down)."""
        job = self._running
        if job is None or job.process is None:
            return
        self._signal(job, signal.SIGTERM)
        try:
            job.process.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            self._signal(job, signal.SIGKILL)
            job.process.wait()
