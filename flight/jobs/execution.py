"""How a job executes: two strategies behind one interface, so that supervision (runner.py) has
no branch on the kind of job.

- ProcessExecution: a real process through its supervisor (process.py), in its own process group
  and directory, stdout and stderr captured there; progress and checkpoints are read from the
  files it writes, and it is told to checkpoint or stop by signals.
- SimulatedExecution: declared GPU work and no process (the lockstep bench's workloads): its work
  is what the GPU did each second, and a checkpoint takes the policy's cost_s.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any, Protocol

from flight.jobs.job import Job
from flight.jobs.process import LOST, JobProcess, exit_status
from flight.jobs.sandbox import JobUser, inside, own_sha256, read_own

GRACE_S = 10.0  # bus seconds from SIGTERM to SIGKILL
CHECKPOINT_DIR = "checkpoints"
LATEST_FILE = "LATEST"
PROGRESS_FILE = "progress"
READY_FILE = "ready"  # the job made it once its SIGUSR1 handler is in place
# the exit status of a job under an integrity policy that caught silent data corruption in what
# it computes (and wrote no checkpoint after it): it is run again from its last checkpoint
SDC_EXIT = 86


class Execution(Protocol):
    """What supervision asks of a job's execution."""

    def start(self, job: Job, resume: str | None) -> int | None:
        """Start the job (from checkpoint ``resume``); its pid, None when it has no process
        (OSError when it cannot start)."""

    def advance(self, job: Job, now: float, work_s: float) -> tuple[str | None, int | None]:
        """One second of the running job (``work_s``: the GPU's work): a new checkpoint's name,
        and its exit status if it ended."""

    def computing(self, job: Job) -> bool:
        """The running job is computing on the GPU (not checkpointing)."""

    def ready_for_checkpoint(self, job: Job) -> bool:
        """A checkpoint may be asked of the job now."""

    def checkpoint_digest(self, job: Job, name: str) -> str | None:
        """The SHA-256 of the checkpoint's file now; None when it has no file (a simulated job)
        or the file cannot be read."""

    def signal(self, job: Job, sig: int) -> None:
        """Deliver SIGUSR1 (checkpoint), SIGTERM or SIGKILL."""

    def reattach(self, job: Job) -> JobProcess | int | None:
        """After a controller restart, for a job recorded as running: its process still running,
        or the exit status it ended with, or None to run it again from its checkpoint."""

    def shutdown(self, job: Job) -> int | None:
        """The controller stops: stop the job; its exit status, None when there was nothing to
        stop."""

    def result_files(self, job: Job) -> list[dict[str, Any]]:
        """The files it leaves for the downlink, with their priorities."""


class ProcessExecution:
    """Jobs as processes, run as ``user`` (None: the controller's own account)."""

    def __init__(
        self, job_area: Path, file_store: Path, user: JobUser | None, scopes: bool
    ) -> None:
        self.job_area = job_area
        self.file_store = file_store
        self.user = user
        self.scopes = scopes  # each job in a systemd scope of its own (process.py)

    def start(self, job: Job, resume: str | None) -> int | None:
        (job.workdir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        (job.workdir / READY_FILE).unlink(missing_ok=True)
        # a LATEST left by an earlier attempt may name a checkpoint newer than the one resumed
        # from (one found altered, or after an interval that disagreed): never taken as new
        (job.workdir / CHECKPOINT_DIR / LATEST_FILE).unlink(missing_ok=True)
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
        if job.spec.integrity == "abft":  # the policy the job carries out itself
            env["JOB_INTEGRITY"] = job.spec.integrity
        if resume is not None:
            env["JOB_RESUME"] = str(job.workdir / CHECKPOINT_DIR / resume)
        if job.rec.verifies and job.rec.verifies[2] is not None:  # checkpoint-replay's interval
            env["JOB_REPLAY_TO"] = job.rec.verifies[2]
        argv = [str(self.job_area / job.spec.executable), *job.spec.args]
        scope = f"payload-job-{job.rec.id}-{job.rec.attempts}" if self.scopes else None
        try:
            job.process = JobProcess.start(argv, job.workdir, env, self.user, scope)
        except OSError as exc:
            (job.workdir / "stderr.log").write_text(f"cannot start: {exc.strerror}\n")
            raise
        return job.process.pid

    def advance(self, job: Job, now: float, work_s: float) -> tuple[str | None, int | None]:
        job.since_checkpoint_s += 1.0
        try:
            job.rec.progress = min(1.0, max(0.0, float(read_own(job.workdir, PROGRESS_FILE))))
        except (OSError, ValueError):
            pass
        try:
            name: str | None = read_own(job.workdir, f"{CHECKPOINT_DIR}/{LATEST_FILE}").strip()
        except OSError:
            name = None
        if not name or name == job.rec.checkpoint or "/" in name or name.startswith("."):
            name = None
        assert job.process is not None
        return name, job.process.poll()

    def computing(self, job: Job) -> bool:
        return True

    def ready_for_checkpoint(self, job: Job) -> bool:
        # an unhandled SIGUSR1 would kill it: only once it has said it handles it
        return (job.workdir / READY_FILE).exists()

    def checkpoint_digest(self, job: Job, name: str) -> str | None:
        return own_sha256(job.workdir, f"{CHECKPOINT_DIR}/{name}")

    def signal(self, job: Job, sig: int) -> None:
        if job.process is not None:
            job.process.signal(sig)

    def reattach(self, job: Job) -> JobProcess | int | None:
        process = JobProcess.adopt(job.rec.pid, job.workdir)
        return process if process is not None else exit_status(job.workdir)

    def shutdown(self, job: Job) -> int | None:
        process = job.process
        if process is None:
            return None
        process.signal(signal.SIGTERM)
        try:
            process.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            process.signal(signal.SIGKILL)
            process.wait(timeout=GRACE_S)
        code = process.poll()
        return LOST if code is None else code

    def result_files(self, job: Job) -> list[dict[str, Any]]:
        # regular files in the job's directory, never a link: a job must not have the
        # controller send what it could not read itself
        named = [("stdout.log", 0), ("stderr.log", 0)]
        named += [(f.path, f.priority) for f in job.spec.results]
        return [
            {"path": path, "priority": prio, "size": (job.workdir / path).stat().st_size}
            for path, prio in named
            if (job.workdir / path).is_file() and inside(job.workdir, path)
        ]


class SimulatedExecution:
    """Jobs as declared GPU work: done as the GPU does work, lost back to the last checkpoint
    when stopped or restarted."""

    def start(self, job: Job, resume: str | None) -> int | None:
        return None

    def advance(self, job: Job, now: float, work_s: float) -> tuple[str | None, int | None]:
        rec, spec = job.rec, job.spec
        stopping = -signal.SIGTERM if rec.stop_reason is not None else None
        if job.checkpoint_asked_at is not None:  # a checkpoint takes cost_s, doing no work
            assert spec.checkpoint is not None
            if now - job.checkpoint_asked_at < spec.checkpoint.cost_s:
                return None, None
            return f"work-{rec.work_done:.0f}", stopping  # asked to stop: it does, now
        if stopping is not None:  # stopped without a fresh checkpoint: its work is lost
            rec.work_done = rec.checkpoint_work
            return None, stopping
        rec.work_done += work_s
        job.since_checkpoint_s += 1.0
        rec.progress = min(1.0, rec.work_done / spec.simulated_work_s)
        return None, 0 if rec.work_done >= spec.simulated_work_s else None

    def computing(self, job: Job) -> bool:
        return job.checkpoint_asked_at is None

    def ready_for_checkpoint(self, job: Job) -> bool:
        return True

    def checkpoint_digest(self, job: Job, name: str) -> str | None:
        return None

    def signal(self, job: Job, sig: int) -> None:
        """A simulation has no process: what a signal would ask, supervision's state says."""

    def reattach(self, job: Job) -> JobProcess | int | None:
        job.rec.work_done = job.rec.checkpoint_work
        return None

    def shutdown(self, job: Job) -> int | None:
        return None

    def result_files(self, job: Job) -> list[dict[str, Any]]:
        return []
