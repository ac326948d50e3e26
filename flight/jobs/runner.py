"""The job runner: supervision of one job at a time on the GPU, in bus time.

The queue and its admission are queue.py's; how a job executes (a process, or simulated GPU work)
is its strategy's, in execution.py. Here: starting the chosen job, watching it each second,
checkpoints, time limits, stopping (SIGTERM, SIGKILL after the grace period) and where a job goes
when it ends. The checkpoint protocol and the states are in docs/jobs.md: SIGUSR1 asks for a
checkpoint, the job names it in checkpoints/LATEST; a job started again gets JOB_RESUME naming its
checkpoint. A job under the redundant or checkpoint-replay policy whose process ended 0 waits in
VERIFYING for its verification runs (verification.py), which are jobs of their own. Every state
change is committed to the store before it is reported.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Callable

from flight.dictionary import FINAL_STATES, FailureCode, JobState
from flight.jobs.execution import (
    GRACE_S,
    SDC_EXIT,
    Execution,
    ProcessExecution,
    SimulatedExecution,
)
from flight.jobs.job import Job, JobRejected, unchanged_on_store_error
from flight.jobs.manifest import VERIFIED_POLICIES, JobSpec
from flight.jobs.process import LOST
from flight.jobs.queue import MAX_QUEUE, JobQueue
from flight.jobs.result_digests import altered
from flight.jobs.sandbox import JobUser
from flight.jobs.store import StoreError
from flight.jobs.verification import AGREES, CANNOT_TELL, DISAGREES, outcome, plan
from flight.events import EV, Event

__all__ = ["Job", "JobRejected", "JobRunner", "first_waiting"]

CHECKPOINT_WAIT_S = 5.0  # bus seconds beyond the policy's cost_s to wait for a checkpoint
# the checkpoints (and digests) a job's record keeps: to fall back on, and checkpoint-replay's
# intervals
MAX_CHECKPOINTS = 256
MAX_SDC_RERUNS = 3  # runs again after caught corruption before the job is failed (a defect)
PERSIST_EVERY_S = 60  # run time and progress are committed at least this often

# why the controller stops a running job, and what becomes of it
STOP_TIMEOUT = "time limit"
STOP_CANCEL = "cancelled"
STOP_SUSPEND = "suspended"
STOP_GPU_FAULT = "GPU fault"
STOP_SHUTDOWN = "controller shutdown"
_REQUEUE_STOPS = (STOP_SUSPEND, STOP_GPU_FAULT, STOP_SHUTDOWN)


def first_waiting(jobs: list[Job]) -> Job | None:
    """The plain choice: the first of the waiting jobs (highest priority, then oldest)."""
    return jobs[0] if jobs else None


class JobRunner:
    """The job on the GPU, over the queue."""

    def __init__(
        self,
        state_dir: Path,
        max_queue: int = MAX_QUEUE,
        user: JobUser | None = None,
        scopes: bool = False,
    ) -> None:
        processes = ProcessExecution(state_dir / "bin", state_dir / "files", user, scopes)
        simulated = SimulatedExecution()

        def execution_for(spec: JobSpec) -> Execution:
            return simulated if spec.simulated else processes

        self.queue = JobQueue(state_dir, execution_for, max_queue)
        self.jobs = self.queue.jobs
        self.store = self.queue.store  # supervision records its changes there too
        self.completed = 0
        self.failed = 0
        # silent data corruption caught: checkpoints altered on disk (never resumed from) and
        # jobs whose results no longer have the digests the job declared
        self.sdc_detected = 0
        self.running: Job | None = None
        self.last: Job | None = None
        self.now = 0.0  # bus time of the last step

    @property
    def queued(self) -> int:
        """Jobs waiting to run."""
        return self.queue.queued

    @property
    def held(self) -> int:
        """Jobs held."""
        return self.queue.held

    @property
    def current(self) -> Job | None:
        """The running job, else the last one to run."""
        return self.running or self.last

    @property
    def gpu_busy(self) -> bool:
        """A job is computing on the GPU (not checkpointing, not being stopped)."""
        job = self.running
        return job is not None and job.term_at is None and job.execution.computing(job)

    def cancel(self, job_id: str, now: float) -> list[Event]:
        """Cancel a waiting job now, or start stopping the running one."""
        job = self.queue.in_state(
            job_id, "cancel", JobState.QUEUED, JobState.HELD, JobState.RUNNING, JobState.VERIFYING
        )
        if job.state is JobState.RUNNING:
            self._stop(job, now, STOP_CANCEL)
            return []
        runs = self._runs_of(job)
        try:
            with unchanged_on_store_error(job):
                events = self._finish(job, now, JobState.CANCELLED, None, "cancelled by command")
        except StoreError as exc:
            raise JobRejected(FailureCode.STORE_FAILURE, str(exc)) from None
        return events + self._drop(runs, now, "its job was cancelled")

    # --- after a restart
    def recover(self, now: float) -> list[Event]:
        """Find the jobs a previous controller left running: adopt the one whose process still
        runs, record how the others ended (or requeue them)."""
        events: list[Event] = []
        for job in [j for j in self.jobs.values() if j.state is JobState.RUNNING]:
            process = job.execution.reattach(job)
            if process is None:
                events += self._requeue(job, now, "controller restarted")
            elif isinstance(process, int):
                events += self._ended(job, now, process)
            elif self.running is None:
                job.process, self.running = process, job
                if job.rec.stop_reason is not None:
                    self._term(job, now)
                events.append(EV.JOB_ADOPTED(job_id=job.rec.id, pid=process.pid or 0))
            else:  # never more than one runs; stop any other
                job.process = process
                process.signal(signal.SIGKILL)
        for job in [j for j in self.jobs.values() if j.state is JobState.VERIFYING]:
            events += self._judge(job, now)  # its last run may have ended just before the stop
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
            job = choose(self.queue.waiting())
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
            events.append(EV.JOB_RESULTS_SUSPECT(job_id=job.rec.id))
        job.rec.reason = reason
        if job.rec.stop_reason is None or job.rec.stop_reason == STOP_SUSPEND:
            self._stop(job, now, STOP_GPU_FAULT)
        return events

    def check_results(self, job: Job, digests: dict[str, str]) -> list[Event]:
        """Before an ended job's results go down (``digests``: their SHA-256 now, by path): each
        the job declared a SHA-256 for must still have it (result_digests.py); if one does not,
        its results are suspect (said once)."""
        changed = altered(job.workdir, digests)
        if not changed or job.rec.suspect:
            return []
        self.sdc_detected += 1
        job.rec.suspect = True  # kept in memory even if the store refuses: RESULTS.json says it
        events = [EV.JOB_RESULTS_SUSPECT(job_id=job.rec.id)]
        try:
            self.store.update(job.rec, "suspect")
        except StoreError as exc:
            events.append(EV.STORE_ERROR(reason=str(exc)))
        return events

    def _start(self, job: Job, now: float) -> list[Event]:
        with unchanged_on_store_error(job):  # RUNNING is on disk before the process starts
            resume, events = self._intact_checkpoint(job)
            rec = job.rec
            rec.state, rec.attempts, rec.stop_reason = JobState.RUNNING, rec.attempts + 1, None
            rec.started_at = rec.started_at if rec.started_at is not None else now
            self.store.update(
                rec, "state", "attempts", "stop_reason", "started_at", "checkpoint", "checkpoints"
            )
        self.sdc_detected += len(events)
        job.checkpoint_asked_at, job.term_at, job.killed = None, None, False
        job.since_checkpoint_s = 0.0
        self.running = job
        try:
            pid = job.execution.start(job, resume)
        except OSError as exc:
            reason = f"cannot start: {exc.strerror}"
            return events + self._finish(job, now, JobState.FAILED, -1, reason)
        if pid is not None:
            rec.pid = pid
            self.store.update(rec, "pid")
        events.append(EV.JOB_STARTED(job_id=rec.id, pid=pid or 0))
        if resume is not None:
            events.append(EV.JOB_RESUMED(job_id=rec.id, checkpoint=resume))
        return events

    @staticmethod
    def _intact_checkpoint(job: Job) -> tuple[str | None, list[Event]]:
        """The checkpoint to resume from: the newest recorded whose file still has the digest it
        had when the job named it (a radiation upset or a failing disk may have altered it since);
        one JOB_CHECKPOINT_CORRUPT for each newer one, which is forgotten. None: start over."""
        rec, events = job.rec, []
        while rec.checkpoint is not None:
            recorded = {name: digest for name, digest in rec.checkpoints}.get(rec.checkpoint)
            if recorded is None or job.execution.checkpoint_digest(job, rec.checkpoint) == recorded:
                break
            events.append(EV.JOB_CHECKPOINT_CORRUPT(job_id=rec.id, checkpoint=rec.checkpoint))
            rec.checkpoints = [c for c in rec.checkpoints if c[0] != rec.checkpoint]
            rec.checkpoint = rec.checkpoints[-1][0] if rec.checkpoints else None
        return rec.checkpoint, events

    def _supervise(self, job: Job, now: float, work_s: float) -> list[Event]:
        rec, spec = job.rec, job.spec
        rec.run_s += 1.0
        checkpoint, code = job.execution.advance(job, now, work_s)
        events = self._checkpointed(job, now, checkpoint) if checkpoint is not None else []
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

    def _checkpointed(self, job: Job, now: float, name: str) -> list[Event]:
        rec = job.rec
        rec.checkpoint, rec.checkpoint_work = name, rec.work_done
        digest = job.execution.checkpoint_digest(job, name)
        kept = [c for c in rec.checkpoints if c[0] != name]
        rec.checkpoints = [*kept, [name, digest]][-MAX_CHECKPOINTS:]
        job.checkpoint_asked_at, job.since_checkpoint_s = None, 0.0
        self.store.update(
            rec, "checkpoint", "checkpoints", "checkpoint_work", "work_done", "run_s", "progress"
        )
        return [EV.JOB_CHECKPOINTED(job_id=rec.id, checkpoint=name)]

    @staticmethod
    def _can_checkpoint(job: Job) -> bool:
        """The job has a checkpoint policy and, if a process, has said it handles SIGUSR1 (an
        unhandled SIGUSR1 would kill it)."""
        return job.spec.checkpoint is not None and job.execution.ready_for_checkpoint(job)

    def _ask_checkpoint(self, job: Job, now: float) -> None:
        job.checkpoint_asked_at = now
        job.execution.signal(job, signal.SIGUSR1)

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
        job.execution.signal(job, signal.SIGTERM)

    def _stopping(self, job: Job, now: float) -> None:
        if job.term_at is None:
            if job.checkpoint_asked_at is None:  # the checkpoint came: now stop
                self._term(job, now)
            elif now - job.checkpoint_asked_at >= job.spec.checkpoint.cost_s + CHECKPOINT_WAIT_S:
                self._term(job, now)
        elif not job.killed and now - job.term_at >= GRACE_S:
            job.killed = True
            job.execution.signal(job, signal.SIGKILL)

    def _ended_durably(self, job: Job, now: float, code: int) -> list[Event]:
        """_ended, or nothing changed if the store cannot record it (it is tried again at the
        next second: a full disk must not spend a job's retries)."""
        with unchanged_on_store_error(job):
            return self._ended(job, now, code)

    def _ended(self, job: Job, now: float, code: int) -> list[Event]:
        """The job's process (or simulation) ended with ``code``: where does it go now."""
        stop = job.rec.stop_reason
        if code == 0:
            if job.rec.verifies:
                return self._finish(job, now, JobState.COMPLETED, 0, self._outcome(job))
            if job.spec.integrity in VERIFIED_POLICIES:
                return self._verify(job, now)
            return self._finish(job, now, JobState.COMPLETED, 0, "")
        if stop == STOP_TIMEOUT:
            return self._finish(job, now, JobState.TIMED_OUT, code, "time limit")
        if stop == STOP_CANCEL:
            return self._finish(job, now, JobState.CANCELLED, code, "cancelled by command")
        if stop in _REQUEUE_STOPS:
            return self._requeue(job, now, job.rec.reason or stop, suspended=stop == STOP_SUSPEND)
        if code == LOST:
            return self._requeue(job, now, "its process was lost (power loss or crash)")
        if code == SDC_EXIT and job.spec.integrity != "none":
            return self._corruption_caught(job, now)
        job.rec.failures += 1
        if job.rec.failures <= job.spec.max_retries:
            return self._requeue(
                job, now, f"exit {code}: retry {job.rec.failures} of {job.spec.max_retries}"
            )
        return self._finish(job, now, JobState.FAILED, code, f"exit {code}")

    def _corruption_caught(self, job: Job, now: float) -> list[Event]:
        """The job's integrity check caught silent data corruption (SDC_EXIT): counted, said, and
        the job run again from its last intact checkpoint; failed after MAX_SDC_RERUNS (corruption
        that comes back every time is a defect, not an upset)."""
        rec = job.rec
        rec.sdc_reruns += 1  # recorded with the job's new state, in one write
        said = EV.JOB_SDC_DETECTED(job_id=rec.id, check=job.spec.integrity, reruns=rec.sdc_reruns)
        if rec.sdc_reruns > MAX_SDC_RERUNS:
            reason = f"{job.spec.integrity}: corruption caught {rec.sdc_reruns} times"
            rec.suspect = True  # whatever results it left
            events = self._finish(job, now, JobState.FAILED, SDC_EXIT, reason)
        else:
            reason = f"{job.spec.integrity}: corruption caught, run again from its last checkpoint"
            events = self._requeue(job, now, reason)
        self.sdc_detected += 1
        return [said, *events]

    # --- verification runs (redundant, checkpoint-replay)
    def _verify(self, job: Job, now: float) -> list[Event]:
        """The job's process ended 0 under redundant or checkpoint-replay: its verification runs
        are queued and it waits in VERIFYING, its results held (none to run: completed)."""
        rec, check = job.rec, job.spec.integrity
        intervals, of = plan(job, len(rec.checkpoints) >= MAX_CHECKPOINTS)
        if not intervals:
            return self._finish(job, now, JobState.COMPLETED, 0, f"{check}: nothing to verify")
        for interval in intervals:
            self.queue.add_verification(job, interval, now)
        rec.state, rec.exit_code, rec.stop_reason, rec.pid = JobState.VERIFYING, 0, None, None
        rec.reason = f"{check}: {len(intervals)} verification runs of {of} intervals"
        self.store.update(
            rec, "state", "exit_code", "stop_reason", "pid", "reason", "run_s", "progress"
        )
        self._release(job)
        return [EV.JOB_VERIFYING(job_id=rec.id, check=check, runs=len(intervals), intervals=of)]

    def _runs_of(self, job: Job) -> list[Job]:
        """The verification runs of the job's last attempt."""
        rec = job.rec
        return [
            j
            for j in self.jobs.values()
            if j.rec.verifies[:1] == [rec.id] and j.rec.verifies[4] == rec.attempts
        ]

    def _outcome(self, run: Job) -> str:
        job = self.jobs.get(run.rec.verifies[0])
        return outcome(job, run) if job is not None else f"{CANNOT_TELL}its job is gone"

    def _judge(self, job: Job, now: float) -> list[Event]:
        """After one of its runs ended: a VERIFYING job caught (one run disagrees), completed
        (every run ended; its results suspect unless every one agrees), or still waiting."""
        if job.state is not JobState.VERIFYING:
            return []
        runs = self._runs_of(job)
        for run in runs:
            if run.state is JobState.COMPLETED and run.rec.reason == DISAGREES:
                return self._disagreed(job, run, runs, now)
        if any(run.state not in FINAL_STATES for run in runs):
            return []
        rec, events = job.rec, []
        agreed = sum(run.state is JobState.COMPLETED and run.rec.reason == AGREES for run in runs)
        if agreed < len(runs) and not rec.suspect:  # results it could not vouch for
            rec.suspect = True
            events.append(EV.JOB_RESULTS_SUSPECT(job_id=rec.id))
        reason = f"{job.spec.integrity}: {agreed} of {len(runs)} verification runs agree"
        return events + self._finish(job, now, JobState.COMPLETED, 0, reason)

    def _disagreed(self, job: Job, run: Job, runs: list[Job], now: float) -> list[Event]:
        """A verification run disagrees with the job: corruption caught. The job goes back to
        the checkpoint the run started from (the state before the interval that disagrees) and
        runs again from there; its other runs are dropped."""
        rec, start = job.rec, run.rec.verifies[1]
        names = [name for name, _ in rec.checkpoints]
        kept = names.index(start) + 1 if start in names else 0
        rec.checkpoints, rec.checkpoint = rec.checkpoints[:kept], start if kept else None
        self.store.update(rec, "checkpoint", "checkpoints")
        events = self._corruption_caught(job, now)
        return events + self._drop(runs, now, "another run of its job disagreed")

    def _drop(self, runs: list[Job], now: float, reason: str) -> list[Event]:
        """Cancel the verification runs that have not ended (their job needs them no more)."""
        events: list[Event] = []
        for run in runs:
            if run.state is JobState.RUNNING:
                self._stop(run, now, STOP_CANCEL)
            elif run.state not in FINAL_STATES:
                events += self._finish(run, now, JobState.CANCELLED, None, reason)
        return events

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
            "sdc_reruns",
        )
        self._release(job)
        event = EV.JOB_SUSPENDED if suspended else EV.JOB_REQUEUED
        return [event(job_id=rec.id, reason=reason)]

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
            "sdc_reruns",
        )
        if self.running is job:
            self._release(job)
            self.last = job
        events = [self._ended_event(job, state, code)]
        verified = self.jobs.get(rec.verifies[0]) if rec.verifies else None
        return events + (self._judge(verified, now) if verified is not None else [])

    def _ended_event(self, job: Job, state: JobState, code: int | None) -> Event:
        job_id, runtime = job.rec.id, job.rec.run_s
        if state is JobState.COMPLETED:
            self.completed += 1
            return EV.JOB_COMPLETED(job_id=job_id, runtime_s=runtime)
        if state is JobState.CANCELLED:
            return EV.JOB_CANCELLED(job_id=job_id)
        self.failed += 1
        if state is JobState.TIMED_OUT:
            return EV.JOB_TIMED_OUT(job_id=job_id, runtime_s=runtime)
        return EV.JOB_FAILED(job_id=job_id, exit_code=code, runtime_s=runtime)

    def _release(self, job: Job) -> None:
        job.process, job.checkpoint_asked_at, job.term_at = None, None, None
        if self.running is job:
            self.running = None

    def shutdown(self) -> None:
        """Stop the running job's process group (the controller is going down); it is queued
        again and resumes from its checkpoint when the controller comes back."""
        job = self.running
        if job is None:
            return
        job.rec.stop_reason = STOP_SHUTDOWN
        code = job.execution.shutdown(job)
        if code is not None:
            self._ended(job, self.now, code)

    def close(self) -> None:
        """Close the store."""
        self.queue.close()
