"""A job's process group as the controller sees it: started through the supervisor
(flight/jobs/supervise.py) in a new session, signalled as a group, and polled for the exit
status the supervisor records, whether this controller started it or adopted it after a restart.

Liveness is a lock, not a pid: the controller locks the job's lock file (flock) before it starts
the supervisor and hands it the locked descriptor, so the lock is held exactly as long as the
supervisor lives, with no window in which a job runs unseen (docs/jobs.md).

Under systemd the supervisor can start in a transient scope unit of its own (systemd-run --scope,
in JOB_SLICE), outside the controller's service: systemd's watchdog kills the controller's whole
control group, and a job there would die with it instead of being adopted by the next controller.
The scope inherits the controller's sandbox (its mount namespace and restrictions), not its cgroup.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from flight.jobs.sandbox import JobUser, hand_over

SUPERVISOR = Path(__file__).with_name("supervise.py")
STATUS_FILE = "exit_status"
LOCK_FILE = "lock"
PID_FILE = "supervisor.pid"  # written by the supervisor
LOST = -(2**31)  # the exit code of a job whose supervisor ended without recording one
JOB_SLICE = "payload-jobs.slice"  # where job scopes go: limits for all jobs can be set on it
_OURS = os.O_NOFOLLOW  # files the controller opens in a job's directory: never through a link


def _lock_free(workdir: Path) -> bool:
    """True when no supervisor holds the job's lock (it is then not running)."""
    try:
        fd = os.open(workdir / LOCK_FILE, os.O_RDWR | os.O_CREAT | _OURS, 0o644)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases the lock if this call took it
    return True


class JobProcess:
    """One job's supervisor and its process group."""

    def __init__(self, pid: int | None, workdir: Path, popen=None) -> None:
        self.pid = pid
        self.workdir = workdir
        self._popen: subprocess.Popen | None = popen

    @classmethod
    def start(
        cls,
        argv: list[str],
        workdir: Path,
        env: dict[str, str],
        user: JobUser | None = None,
        scope: str | None = None,
    ) -> JobProcess:
        """Start the job in ``workdir`` (stdout.log and stderr.log there), as ``user`` when
        given (the directory becomes theirs), in the systemd scope unit named ``scope`` when
        given; OSError if the supervisor cannot start."""
        (workdir / STATUS_FILE).unlink(missing_ok=True)
        ids = [str(user.uid), str(user.gid)] if user else ["-", "-"]
        unit = _in_scope(scope) if scope else []
        lock = os.open(workdir / LOCK_FILE, os.O_RDWR | os.O_CREAT | _OURS, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with _log(workdir / "stdout.log") as out, _log(workdir / "stderr.log") as err:
                if user is not None:
                    hand_over(workdir, user)
                popen = subprocess.Popen(
                    unit
                    + [sys.executable, "-I", "-S", str(SUPERVISOR), str(lock), STATUS_FILE]
                    + ids
                    + argv,
                    cwd=workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    pass_fds=(lock,),
                )
        finally:
            os.close(lock)  # the supervisor's copy keeps the lock
        return cls(popen.pid, workdir, popen)

    @classmethod
    def adopt(cls, pid: int | None, workdir: Path) -> JobProcess | None:
        """The process a previous controller started, if it still runs."""
        return None if _lock_free(workdir) else cls(pid, workdir)

    def poll(self) -> int | None:
        """The job's exit code once it has ended (negative: killed by that signal; LOST when
        its supervisor ended without recording one), else None."""
        if self._popen is not None:
            code = self._popen.poll()
            if code is None:
                return None
        elif not _lock_free(self.workdir):
            return None
        else:
            code = LOST
        return exit_status(self.workdir, code)

    def signal(self, sig: signal.Signals) -> None:
        """Send a signal to the whole process group (nothing if it is gone)."""
        if self._popen is None:
            if _lock_free(self.workdir):
                return  # an adopted group that has ended: its pid may be someone else's now
            if self.pid is None:
                self.pid = _recorded_pid(self.workdir)
        if self.pid is None:
            return
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self, timeout: float) -> None:
        """Wait for a process this controller started (shutdown only)."""
        if self._popen is not None:
            self._popen.wait(timeout)


def scopes_available() -> str | None:
    """Why jobs cannot start in scope units of their own here (None: they can)."""
    if shutil.which("systemd-run") is None:
        return "systemd-run is not installed"
    if not Path("/run/systemd/system").is_dir():
        return "systemd is not this machine's init"
    return None


def _in_scope(scope: str) -> list[str]:
    """The command that runs what follows in a new scope unit (systemd-run execs it in place,
    so the process keeps its pid, its session and the descriptors it was handed)."""
    return [
        "systemd-run", "--scope", "--quiet", "--collect", f"--unit={scope}",
        f"--slice={JOB_SLICE}", f"--description=payload job {scope}",
    ]  # fmt: skip


def _log(path: Path):
    """A job's log, opened for appending by the controller (never through a link)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _OURS, 0o644), "ab")


def exit_status(workdir: Path, default: int = LOST) -> int:
    """The exit code the job's supervisor recorded, or ``default``."""
    try:
        return int((workdir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return default


def _recorded_pid(workdir: Path) -> int | None:
    try:
        return int((workdir / PID_FILE).read_text())
    except (OSError, ValueError):
        return None
