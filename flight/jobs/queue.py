"""Queue admission: the persistent set of jobs, and what a new job must satisfy to join it (a
unique id, room in the queue, its executable and inputs on board, GPU memory the GPU has, a
deadline it can meet); the waiting jobs' order; holding, releasing and reprioritising. Every change
is committed to the store before it is reported; a change the store refuses leaves nothing
changed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flight.dictionary import FailureCode, JobState
from flight.jobs.execution import Execution
from flight.jobs.job import Job, JobRejected, unchanged_on_store_error
from flight.jobs.manifest import JobSpec, parse_manifest
from flight.jobs.store import JobRecord, JobStore, StoreError
from flight.jobs.verification import Interval, link_checkpoint, run_id

MAX_QUEUE = 64  # jobs waiting (queued or held)


def _plain_order(job: Job) -> tuple[int, bool, float, int]:
    deadline = job.spec.deadline if job.spec.deadline is not None else float("inf")
    # a verification run first among its priority: the results it checks wait for it
    return (-job.rec.priority, not job.rec.verifies, deadline, job.rec.seq)


class JobQueue:
    """The jobs the controller knows, in its state directory; ``execution_for`` says how each
    kind of job executes."""

    def __init__(
        self,
        state_dir: Path,
        execution_for: Callable[[JobSpec], Execution],
        max_queue: int = MAX_QUEUE,
    ) -> None:
        self.execution_for = execution_for
        self.job_area = state_dir / "bin"
        self.work_root = state_dir / "jobs"
        self.file_store = state_dir / "files"
        self.max_queue = max_queue
        self.store = JobStore(state_dir / "jobs.sqlite")
        self.jobs: dict[str, Job] = {}
        for r in self.store.load():
            self._add(r, parse_manifest(r.manifest))

    def _add(self, rec: JobRecord, spec: JobSpec) -> Job:
        job = Job(rec, spec, self.work_root / rec.id, self.execution_for(spec))
        self.jobs[rec.id] = job
        return job

    def waiting(self) -> list[Job]:
        """Jobs that may start, in the plain order: priority (highest first), verification runs
        (verification.py) before other jobs, then the earliest deadline, then submission."""
        queued = [j for j in self.jobs.values() if j.state is JobState.QUEUED]
        return sorted(queued, key=_plain_order)

    @property
    def queued(self) -> int:
        """Jobs waiting to run."""
        return sum(j.state is JobState.QUEUED for j in self.jobs.values())

    @property
    def held(self) -> int:
        """Jobs held."""
        return sum(j.state is JobState.HELD for j in self.jobs.values())

    def job(self, job_id: str) -> Job:
        """The job with this id; JobRejected(JOB_UNKNOWN) if there is none."""
        try:
            return self.jobs[job_id]
        except KeyError:
            raise JobRejected(FailureCode.JOB_UNKNOWN, f"no job {job_id!r}") from None

    def in_state(self, job_id: str, verb: str, *states: JobState) -> Job:
        """The job, when it is in one of ``states``; JobRejected(JOB_STATE_CONFLICT) if not."""
        job = self.job(job_id)
        if job.state not in states:
            allowed = ", ".join(s.name for s in states)
            raise JobRejected(
                FailureCode.JOB_STATE_CONFLICT,
                f"cannot {verb} job {job_id!r}: it is {job.state.name} (must be {allowed})",
            )
        return job

    def submit(
        self, spec: JobSpec, manifest: dict[str, Any], now: float, gpu_memory_mib: int
    ) -> Job:
        """Queue a job, durably; JobRejected with its failure code when it cannot be."""
        if spec.job_id in self.jobs:
            raise JobRejected(FailureCode.JOB_DUPLICATE, f"job {spec.job_id!r} is already known")
        waiting = self.queued + self.held
        if waiting >= self.max_queue:
            raise JobRejected(FailureCode.QUEUE_FULL, f"{waiting} jobs already waiting")
        if spec.executable is not None:
            exe = self.job_area / spec.executable
            if not (exe.is_file() and os.access(exe, os.X_OK)):
                raise JobRejected(
                    FailureCode.EXECUTABLE_NOT_FOUND,
                    f"{spec.executable!r} is not an executable in the job area",
                )
        for path in spec.inputs:
            if not (self.file_store / path).is_file():
                raise JobRejected(FailureCode.INPUT_NOT_FOUND, f"input {path!r} is not on board")
        if spec.gpu_memory_mib > gpu_memory_mib:
            raise JobRejected(
                FailureCode.GPU_MEMORY_EXCEEDED,
                f"gpu_memory_mib {spec.gpu_memory_mib} > the GPU's {gpu_memory_mib} MiB",
            )
        if spec.deadline is not None and spec.deadline < now + spec.expected_runtime_s:
            raise JobRejected(
                FailureCode.DEADLINE_UNREACHABLE,
                f"deadline {spec.deadline:.0f} is before now ({now:.0f}) plus "
                f"expected_runtime_s ({spec.expected_runtime_s:g})",
            )
        rec = JobRecord(
            spec.job_id, self.store.next_seq(), manifest, JobState.QUEUED, spec.priority, now
        )
        try:
            self.store.insert(rec)
        except StoreError as exc:
            raise JobRejected(FailureCode.STORE_FAILURE, str(exc)) from None
        return self._add(rec, spec)

    def add_verification(self, job: Job, interval: Interval, now: float) -> Job:
        """Queue a verification run of ``job`` over ``interval`` (verification.py), durably: the
        job's manifest, its priority, and the checkpoint it starts from linked into its
        directory. Never refused for room: it is the job's own work."""
        rec = job.rec
        number = 1 + sum(j.rec.verifies[:1] == [rec.id] for j in self.jobs.values())
        new = JobRecord(
            run_id(rec.id, number),
            self.store.next_seq(),
            rec.manifest,
            JobState.QUEUED,
            rec.priority,
            now,
            verifies=[rec.id, interval.start, interval.end, interval.digest, rec.attempts],
        )
        start = interval.start
        if start is not None and link_checkpoint(job, start, self.work_root / new.id):
            new.checkpoint = start
            new.checkpoints = [[start, dict(rec.checkpoints)[start]]]
        self.store.insert(new)
        return self._add(new, job.spec)

    def hold(self, job_id: str) -> None:
        """Keep a queued job from starting."""
        self._set(self.in_state(job_id, "hold", JobState.QUEUED), state=JobState.HELD)

    def release(self, job_id: str) -> None:
        """Let a held job start again."""
        self._set(self.in_state(job_id, "release", JobState.HELD), state=JobState.QUEUED)

    def reprioritise(self, job_id: str, priority: int) -> None:
        """Set a job's priority (it matters until the job ends)."""
        job = self.in_state(
            job_id, "reprioritise", JobState.QUEUED, JobState.HELD, JobState.RUNNING
        )
        self._set(job, priority=priority)

    def _set(self, job: Job, **values: Any) -> None:
        """Change a job's record, durably; on a store failure nothing changes."""
        try:
            with unchanged_on_store_error(job):
                for name, value in values.items():
                    setattr(job.rec, name, value)
                self.store.update(job.rec, *values)
        except StoreError as exc:
            raise JobRejected(FailureCode.STORE_FAILURE, str(exc)) from None

    def close(self) -> None:
        """Close the store."""
        self.store.close()
