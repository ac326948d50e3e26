"""The job runner: the persistent queue and one job at a time on the GPU, supervised in bus time.

A job is a real process (through its supervisor, flight/jobs/process.py) in its own process group
and directory under the state directory, stdout and stderr captured there; or a simulated job,
declared GPU work with no process, done as the GPU does work. The checkpoint protocol and the
states are in docs/jobs.md: SIGUSR1 asks for a checkpoint, the job names it in
checkpoints/LATEST; SIGTERM means stop, SIGKILL follows after the grace period; a job started
again gets JOB_RESUME naming its checkpoint. Every state change is committed to the store before
it is reported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from flight.dictionary import FailureCode, JobState
from flight.jobs.manifest import JobSpec, parse_manifest
from flight.jobs.process import LOST, JobProcess, exit_status
from flight.jobs.sandbox import JobUser, inside, read_own
from flight.jobs.store import JobRecord, JobStore, StoreError

GRACE_S = 10.0  # bus seconds from SIGTERM to SIGKILL
CHECKPOINT_WAIT_S = 5.0  # bus seconds beyond the policy's cost_s to wait for a checkpoint
PERSIST_EVERY_S = 60  # run time and progress are committed at least this often
MAX_QUEUE = 64  # jobs waiting (queued or held)
CHECKPOINT_DIR = "checkpoints"
LATEST_FILE = "LATEST"
PROGRESS_FILE = "progress"
READY_FILE = "ready"  # the job made it once its SIGUSR1 handler is in place

# why the controller stops a running job, and what becomes of it
STOP_TIMEOUT = "time limit"
STOP_CANCEL = "cancelled"
STOP_SUSPEND = "suspended"
STOP_GPU_FAULT = "GPU fault"
STOP_SHUTDOWN = "controller shutdown"
_REQUEUE_STOPS = (STOP_SUSPEND, STOP_GPU_FAULT, STOP_SHUTDOWN)

Event = tuple[str, dict[str, Any]]


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
        }

    def results(self) -> list[dict[str, Any]]:
        """The result files there are, with their downlink priorities: regular files in the
        job's directory, never a link (a job must not have the controller send what it could
        not read itself)."""
        if self.spec.simulated:
            return []
        named = [("stdout.log", 0), ("stderr.log", 0)]
        named += [(f.path, f.priority) for f in self.spec.results]
        return [
            {"path": path, "priority": prio, "size": (self.workdir / path).stat().st_size}
            for path, prio in named
            if (self.workdir / path).is_file() and inside(self.workdir, path)
        ]


@contextlib.contextmanager
def _unchanged_on_store_error(job: Job) -> Iterator[None]:
    """The job's record as it was if the body's store write fails (memory follows the disk)."""
    saved = dataclasses.replace(job.rec)
    try:
        yield
    except StoreError:
        job.rec = saved
        raise


def _plain_order(job: Job) -> tuple[int, float, int]:
    deadline = job.spec.deadline if job.spec.deadline is not None else float("inf")
    return (-job.rec.priority, deadline, job.rec.seq)


def first_waiting(jobs: list[Job]) -> Job | None:
    """The plain choice: the first of the waiting jobs (highest priority, then oldest)."""
    return jobs[0] if jobs else None


class JobRunner:
    """The queue and the job on the GPU."""

    def __init__(
        self,
        state_dir: Path,
        max_queue: int = MAX_QUEUE,
        user: JobUser | None = None,
        scopes: bool = False,
    ) -> None:
        self.user = user  # the account jobs run as (None: the controller's)
        self.scopes = scopes  # each job in a systemd scope of its own (flight/jobs/process.py)
        self.job_area = state_dir / "bin"
        self.work_root = state_dir / "jobs"
        self.file_store = state_dir / "files"
        self.max_queue = max_queue
        self.store = JobStore(state_dir / "jobs.sqlite")
        self.jobs: dict[str, Job] = {
            r.id: Job(r, parse_manifest(r.manifest), self.work_root / r.id)
            for r in self.store.load()
        }
        self.completed = 0
        self.failed = 0
        self.running: Job | None = None
        self.last: Job | None = None
        self.now = 0.0  # bus time of the last step

    # --- queue
    def waiting(self) -> list[Job]:
        """Jobs that may start, in the plain order: priority (highest first), then the earliest
        deadline, then submission."""
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

    @property
    def current(self) -> Job | None:
        """The running job, else the last one to run."""
        return self.running or self.last

    @property
    def gpu_busy(self) -> bool:
        """A job is computing on the GPU (not checkpointing, not being stopped)."""
        job = self.running
        return (
            job is not None
            and job.term_at is None
            and not (job.spec.simulated and job.checkpoint_asked_at is not None)
        )

    def job(self, job_id: str) -> Job:
        """The job with this id; JobRejected(JOB_UNKNOWN) if there is none."""
        try:
            return self.jobs[job_id]
        except KeyError:
            raise JobRejected(FailureCode.JOB_UNKNOWN, f"no job {job_id!r}") from None

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
        self._store(lambda: self.store.insert(rec))
        job = Job(rec, spec, self.work_root / spec.job_id)
        self.jobs[spec.job_id] = job
        return job

    def cancel(self, job_id: str, now: float) -> list[Event]:
        """Cancel a waiting job now, or start stopping the running one."""
        job = self._in_state(job_id, "cancel", JobState.QUEUED, JobState.HELD, JobState.RUNNING)
        if job.state is JobState.RUNNING:
            self._stop(job, now, STOP_CANCEL)
            return []
        try:
            with _unchanged_on_store_error(job):
                return self._finish(job, now, JobState.CANCELLED, None, "cancelled by command")
        except StoreError as exc:
            raise JobRejected(FailureCode.STORE_FAILURE, str(exc)) from None

    def hold(self, job_id: str) -> None:
        """Keep a queued job from starting."""
        self._set(self._in_state(job_id, "hold", JobState.QUEUED), state=JobState.HELD)

    def release(self, job_id: str) -> None:
        """Let a held job start again."""
        self._set(self._in_state(job_id, "release", JobState.HELD), state=JobState.QUEUED)

    def reprioritise(self, job_id: str, priority: int) -> None:
        """Set a job's priority (it matters until the job ends)."""
        job = self._in_state(
            job_id, "reprioritise", JobState.QUEUED, JobState.HELD, JobState.RUNNING
        )
        self._set(job, priority=priority)

    def _in_state(self, job_id: str, verb: str, *states: JobState) -> Job:
        job = self.job(job_id)
        if job.state not in states:
            allowed = ", ".join(s.name for s in states)
            raise JobRejected(
                FailureCode.JOB_STATE_CONFLICT,
                f"cannot {verb} job {job_id!r}: it is {job.state.name} (must be {allowed})",
            )
        return job

    def _set(self, job: Job, **values: Any) -> None:
        """Change a job's record, durably; on a store failure nothing changes."""
        try:
            with _unchanged_on_store_error(job):
                for name, value in values.items():
                    setattr(job.rec, name, value)
                self.store.update(job.rec, *values)
        except StoreError as exc:
            raise JobRejected(FailureCode.STORE_FAILURE, str(exc)) from None

    @staticmethod
    def _store(write: Callable[[], None]) -> None:
        try:
            write()
        except StoreError as exc:
            raise JobRejected(FailureCode.STORE_FAILURE, str(exc)) from None

    # --- after a restart
    def recover(self, now: float) -> list[Event]:
        """Find the jobs a previous controller left running: adopt the one whose process still
        runs, record how the others ended (or requeue them)."""
        events: list[Event] = []
        for job in [j for j in self.jobs.values() if j.state is JobState.RUNNING]:
            if job.spec.simulated:
                job.rec.work_done = job.rec.checkpoint_work
                events += self._requeue(job, now, "controller restarted")
                continue
            process = JobProcess.adopt(job.rec.pid, job.workdir)
            if process is None:
                events += self._ended(job, now, exit_status(job.workdir))
            elif self.running is None:
                job.process, self.running = process, job
                if job.rec.stop_reason is not None:
                    self._term(job, now)
                events.append(("JOB_ADOPTED", {"job_id": job.rec.id, "pid": process.pid or 0}))
            else:  # never more than one runs; stop any other
                job.process = process
                process.signal(signal.SIGKILL)
        return events

    # --- supervision, once per bus second
    def step(
        self,
        now: float,
        may_start: bool,
        work_s: float = 0.0,
        choose: Callable[[list[Job]], Job | None] = first_waiting,
    ) -> list[Event]:
        """Supervise at bus time ``now`` (``work_s``: GPU work done in the last second): reap,
        enforce limits, checkpoint; then start the chosen job if ``may_start``."""
        self.now = now
        events: list[Event] = []
        if self.running is not None:
            events += self._supervise(self.running, now, work_s)
        if self.running is None and may_start:
            job = choose(self.waiting())
            if job is not None:
                events += self._start(job, now)
        return events

    def suspend(self, now: float, reason: str) -> None:
        """Checkpoint (if the job can) and stop the running job; it is queued again."""
        job = self.running
        if job is not None and job.rec.stop_reason is None:
            job.rec.reason = reason
            self._stop(job, now, STOP_SUSPEND, checkpoint=True)

    def gpu_fault(self, now: float, reason: str, suspect: bool) -> list[Event]:
        """Stop the running job because the GPU failed under it; it is queued again (from its
        last checkpoint, taken before the fault was seen)."""
        job = self.running
        if job is None:
            return []
        events: list[Event] = []
        if suspect and not job.rec.suspect:
            job.rec.suspect = True
            events.append(("JOB_RESULTS_SUSPECT", {"job_id": job.rec.id}))
        job.rec.reason = reason
        if job.rec.stop_reason is None or job.rec.stop_reason == STOP_SUSPEND:
            self._stop(job, now, STOP_GPU_FAULT)
        return events

    def _start(self, job: Job, now: float) -> list[Event]:
        resume = job.rec.checkpoint
        with _unchanged_on_store_error(job):  # RUNNING is on disk before the process starts
            rec = job.rec
            rec.state, rec.attempts, rec.stop_reason = JobState.RUNNING, rec.attempts + 1, None
            rec.started_at = rec.started_at if rec.started_at is not None else now
            self.store.update(rec, "state", "attempts", "stop_reason", "started_at")
        job.checkpoint_asked_at, job.term_at, job.killed = None, None, False
        job.since_checkpoint_s = 0.0
        self.running = job
        events: list[Event] = []
        if job.spec.simulated:
            events.append(("JOB_STARTED", {"job_id": rec.id, "pid": 0}))
        else:
            try:
                job.process = self._spawn(job, resume)
            except OSError as exc:
                (job.workdir / "stderr.log").write_text(f"cannot start: {exc.strerror}\n")
                return self._finish(job, now, JobState.FAILED, -1, f"cannot start: {exc.strerror}")
            rec.pid = job.process.pid
            self.store.update(rec, "pid")
            events.append(("JOB_STARTED", {"job_id": rec.id, "pid": rec.pid}))
        if resume is not None:
            events.append(("JOB_RESUMED", {"job_id": rec.id, "checkpoint": resume}))
        return events

    def _spawn(self, job: Job, resume: str | None) -> JobProcess:
        (job.workdir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        (job.workdir / READY_FILE).unlink(missing_ok=True)
        env = {
            "PATH": os.defpath,
            "LANG": "C.UTF-8",
            "HOME": str(job.workdir),
            "JOB_ID": job.rec.id,
            "JOB_DIR": str(job.workdir),
            "JOB_ATTEMPT": str(job.rec.attempts),
            "JOB_CHECKPOINT_DIR": str(job.workdir / CHECKPOINT_DIR),
            "JOB_PROGRESS_FILE": str(job.workdir / PROGRESS_FILE),
            "JOB_READY_FILE": str(job.workdir / READY_FILE),
            "JOB_INPUT_DIR": str(self.file_store),
        } | job.spec.env
        if resume is not None:
            env["JOB_RESUME"] = str(job.workdir / CHECKPOINT_DIR / resume)
        argv = [str(self.job_area / job.spec.executable), *job.spec.args]
        scope = f"payload-job-{job.rec.id}-{job.rec.attempts}" if self.scopes else None
        return JobProcess.start(argv, job.workdir, env, self.user, scope)

    def _supervise(self, job: Job, now: float, work_s: float) -> list[Event]:
        rec, spec = job.rec, job.spec
        rec.run_s += 1.0
        if spec.simulated:
            events = self._advance_simulated(job, now, work_s)
        else:
            events = self._watch(job, now)
            code = job.process.poll()
            if code is not None:
                return events + self._ended_durably(job, now, code)
        if self.running is not job:
            return events
        policy = spec.checkpoint
        if rec.stop_reason is not None:
            self._stopping(job, now)
        elif rec.run_s > spec.time_limit_s:
            self._stop(job, now, STOP_TIMEOUT)
        elif (
            policy is not None
            and policy.interval_s
            and job.since_checkpoint_s >= policy.interval_s
            and self._can_checkpoint(job)
            and (
                job.checkpoint_asked_at is None  # or asked, and nothing came: ask again
                or now - job.checkpoint_asked_at >= policy.cost_s + CHECKPOINT_WAIT_S
            )
        ):
            self._ask_checkpoint(job, now)
        if int(rec.run_s) % PERSIST_EVERY_S == 0:
            self.store.update(rec, "run_s", "progress", "work_done")
        return events

    def _advance_simulated(self, job: Job, now: float, work_s: float) -> list[Event]:
        rec, spec = job.rec, job.spec
        if job.checkpoint_asked_at is not None:  # a checkpoint takes cost_s, doing no work
            if now - job.checkpoint_asked_at < spec.checkpoint.cost_s:
                return []
            return self._checkpointed(job, now, f"work-{rec.work_done:.0f}")
        if rec.stop_reason is not None:  # stopped without a fresh checkpoint: its work is lost
            rec.work_done = rec.checkpoint_work
            return self._ended(job, now, -signal.SIGTERM)
        rec.work_done += work_s
        job.since_checkpoint_s += 1.0
        rec.progress = min(1.0, rec.work_done / spec.simulated_work_s)
        if rec.work_done >= spec.simulated_work_s:
            return self._ended(job, now, 0)
        return []

    def _watch(self, job: Job, now: float) -> list[Event]:
        """Read what a job process reports in its files: progress and checkpoints."""
        job.since_checkpoint_s += 1.0
        try:
            job.rec.progress = min(1.0, max(0.0, float(read_own(job.workdir, PROGRESS_FILE))))
        except (OSError, ValueError):
            pass
        try:
            name = read_own(job.workdir, f"{CHECKPOINT_DIR}/{LATEST_FILE}").strip()
        except OSError:
            return []
        if not name or name == job.rec.checkpoint or "/" in name or name.startswith("."):
            return []
        return self._checkpointed(job, now, name)

    def _checkpointed(self, job: Job, now: float, name: str) -> list[Event]:
        rec = job.rec
        rec.checkpoint, rec.checkpoint_work = name, rec.work_done
        job.checkpoint_asked_at, job.since_checkpoint_s = None, 0.0
        self.store.update(rec, "checkpoint", "checkpoint_work", "work_done", "run_s", "progress")
        events = [("JOB_CHECKPOINTED", {"job_id": rec.id, "checkpoint": name})]
        if rec.stop_reason is not None and job.spec.simulated:
            events += self._ended(job, now, -signal.SIGTERM)
        return events

    @staticmethod
    def _can_checkpoint(job: Job) -> bool:
        """The job has a checkpoint policy and, if a process, has said it handles SIGUSR1 (an
        unhandled SIGUSR1 would kill it)."""
        return job.spec.checkpoint is not None and (
            job.spec.simulated or (job.workdir / READY_FILE).exists()
        )

    def _ask_checkpoint(self, job: Job, now: float) -> None:
        job.checkpoint_asked_at = now
        if job.process is not None:
            job.process.signal(signal.SIGUSR1)

    def _stop(self, job: Job, now: float, reason: str, checkpoint: bool = False) -> None:
        job.rec.stop_reason = reason
        self.store.update(job.rec, "stop_reason", "reason")
        if checkpoint and self._can_checkpoint(job):
            if job.checkpoint_asked_at is None:
                self._ask_checkpoint(job, now)
        else:
            job.checkpoint_asked_at = None
            self._term(job, now)

    def _term(self, job: Job, now: float) -> None:
        job.term_at = now
        if job.process is not None:
            job.process.signal(signal.SIGTERM)

    def _stopping(self, job: Job, now: float) -> None:
        if job.term_at is None:
            if job.checkpoint_asked_at is None:  # the checkpoint came: now stop
                self._term(job, now)
            elif now - job.checkpoint_asked_at >= job.spec.checkpoint.cost_s + CHECKPOINT_WAIT_S:
                self._term(job, now)
        elif not job.killed and now - job.term_at >= GRACE_S:
            job.killed = True
            if job.process is not None:
                job.process.signal(signal.SIGKILL)

    def _ended_durably(self, job: Job, now: float, code: int) -> list[Event]:
        """_ended, or nothing changed if the store cannot record it (it is tried again at the
        next second: a full disk must not spend a job's retries)."""
        with _unchanged_on_store_error(job):
            return self._ended(job, now, code)

    def _ended(self, job: Job, now: float, code: int) -> list[Event]:
        """The job's process (or simulation) ended with ``code``: where does it go now."""
        stop = job.rec.stop_reason
        if code == 0:
            return self._finish(job, now, JobState.COMPLETED, 0, "")
        if stop == STOP_TIMEOUT:
            return self._finish(job, now, JobState.TIMED_OUT, code, "time limit")
        if stop == STOP_CANCEL:
            return self._finish(job, now, JobState.CANCELLED, code, "cancelled by command")
        if stop in _REQUEUE_STOPS:
            return self._requeue(job, now, job.rec.reason or stop, suspended=stop == STOP_SUSPEND)
        if code == LOST:
            return self._requeue(job, now, "its process was lost (power loss or crash)")
        job.rec.failures += 1
        if job.rec.failures <= job.spec.max_retries:
            return self._requeue(
                job, now, f"exit {code}: retry {job.rec.failures} of {job.spec.max_retries}"
            )
        return self._finish(job, now, JobState.FAILED, code, f"exit {code}")

    def _requeue(self, job: Job, now: float, reason: str, suspended: bool = False) -> list[Event]:
        rec = job.rec
        rec.state, rec.stop_reason, rec.reason, rec.pid = JobState.QUEUED, None, reason, None
        self.store.update(
            rec,
            "state",
            "stop_reason",
            "reason",
            "pid",
            "failures",
            "run_s",
            "work_done",
            "progress",
            "suspect",
        )
        self._release(job)
        name = "JOB_SUSPENDED" if suspended else "JOB_REQUEUED"
        return [(name, {"job_id": rec.id, "reason": reason})]

    def _finish(
        self, job: Job, now: float, state: JobState, code: int | None, reason: str
    ) -> list[Event]:
        rec = job.rec
        rec.state, rec.exit_code, rec.ended_at, rec.reason = state, code, now, reason
        rec.stop_reason, rec.pid = None, None
        if state is JobState.COMPLETED:
            rec.progress = 1.0
        self.store.update(
            rec,
            "state",
            "exit_code",
            "ended_at",
            "reason",
            "stop_reason",
            "pid",
            "run_s",
            "work_done",
            "progress",
            "failures",
            "suspect",
        )
        if self.running is job:
            self._release(job)
            self.last = job
        job_id, runtime = rec.id, rec.run_s
        if state is JobState.COMPLETED:
            self.completed += 1
            return [("JOB_COMPLETED", {"job_id": job_id, "runtime_s": runtime})]
        if state is JobState.CANCELLED:
            return [("JOB_CANCELLED", {"job_id": job_id})]
        self.failed += 1
        if state is JobState.TIMED_OUT:
            return [("JOB_TIMED_OUT", {"job_id": job_id, "runtime_s": runtime})]
        return [("JOB_FAILED", {"job_id": job_id, "exit_code": code, "runtime_s": runtime})]

    def _release(self, job: Job) -> None:
        job.process, job.checkpoint_asked_at, job.term_at = None, None, None
        if self.running is job:
            self.running = None

    def shutdown(self) -> None:
        """Stop the running job's process group (the controller is going down); it is queued
        again and resumes from its checkpoint when the controller comes back."""
        job = self.running
        if job is None or job.process is None:
            return
        job.rec.stop_reason = STOP_SHUTDOWN
        job.process.signal(signal.SIGTERM)
        try:
            job.process.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            job.process.signal(signal.SIGKILL)
            job.process.wait(timeout=GRACE_S)
        code = job.process.poll()
        self._ended(job, self.now, LOST if code is None else code)

    def close(self) -> None:
        """Close the store."""
        self.store.close()
