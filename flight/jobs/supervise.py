"""A job's supervisor process: runs the job's executable as its child and records its exit status
durably in a file, so a controller that restarts after a crash learns how a job it started ended (a
process's status can only be waited for by its parent).

Run as ``python -I -S supervise.py LOCK_FD STATUS_FILE UID GID EXECUTABLE [ARG ...]`` in the job's
process group. The job runs with JOB_LIMITS and, when UID and GID are not "-", as that user and
group with no supplementary groups (the supervisor itself stays the controller's user: it writes
the status the controller trusts). LOCK_FD is the job's lock file, locked by the controller before
it started this process: holding it for as long as this process lives is what tells a restarted
controller that the job is still running. Signals the controller sends to the group reach the job
directly; this process only waits, and passes on what reached it before the job was started.
Standard library only: it starts once per job.
"""

import os
import resource
import signal
import sys

PID_FILE = "supervisor.pid"
NO_USER = "-"
# (limit, value): no core dumps (they would hold the job's memory), descriptors, processes of
# the job user (a fork bomb stops there), and the largest file a job may write (64 GiB)
JOB_LIMITS = (
    (resource.RLIMIT_CORE, 0),
    (resource.RLIMIT_NOFILE, 4096),
    (resource.RLIMIT_NPROC, 1024),
    (resource.RLIMIT_FSIZE, 64 << 30),
)
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
_PRIVATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW  # never through a job's link


def _write_new(path: str, text: str) -> int:
    """A fresh file of ours with the text (what a job left at the path is removed first)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, _PRIVATE, 0o644)
    os.write(fd, text.encode())
    return fd


def _record(path: str, status: int) -> None:
    tmp = path + ".tmp"
    fd = _write_new(tmp, f"{status}\n")
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dirfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def main(argv: list[str]) -> int:
    """Run the job, wait for it, record its exit status (negative: killed by that signal)."""
    lock_fd, status_path, uid, gid = int(argv[0]), argv[1], argv[2], argv[3]
    executable, args = argv[4], argv[4:]
    os.set_inheritable(lock_fd, False)  # the job must not keep the lock after this process
    try:  # for a restarted controller that never learned the pid (best effort: disk full)
        os.close(_write_new(PID_FILE, f"{os.getpid()}\n"))
    except OSError:
        pass
    pid = _start_job(executable, args, uid, gid)
    _, wait_status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    for log in (1, 2):  # the job's logs on disk before its status says it ended: after a power
        try:  # cut they would be empty, and go down empty, beside a status that says done
            os.fsync(log)
        except OSError:
            pass
    try:
        _record(status_path, code)
    except OSError:  # a full disk: the parent still learns the status from ours
        return code if code >= 0 else 128 - code
    return 0


def _start_job(executable: str, args: list[str], uid: str, gid: str) -> int:
    """Fork and exec the job; its pid. A signal the controller sent to the group before the
    job was in it (a CANCEL_JOB right after the start) is passed on to the job, never lost."""
    early: list[int] = []
    child: list[int] = []

    def before_the_job(sig: int, _frame: object) -> None:
        if not child:
            early.append(sig)

    for sig in SIGNALS:  # a handler, not SIG_IGN: the job gets the default
        signal.signal(sig, before_the_job)
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    pid = os.fork()
    if pid == 0:
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # pending ones act on the job
        _exec_job(executable, args, uid, gid)
    child.append(pid)
    pending = signal.sigpending() & set(SIGNALS)  # sent while the fork was under way
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    for sig in [*early, *sorted(pending)]:
        os.kill(pid, sig)
    return pid


def _exec_job(executable: str, args: list[str], uid: str, gid: str) -> None:
    """In the forked child: limits, the job's user, then the job; 127 if it cannot start."""
    try:
        for limit, value in JOB_LIMITS:
            if limit == resource.RLIMIT_NPROC and uid == NO_USER:
                continue  # counted per user: only the job user's own processes are the job's
            _, hard = resource.getrlimit(limit)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (value, value))
        if uid != NO_USER:
            os.setgroups([])
            os.setgid(int(gid))
            os.setuid(int(uid))
        os.execv(executable, args)
    except OSError as exc:
        try:
            sys.stderr.write(f"cannot start {executable}: {exc.strerror}\n")
            sys.stderr.flush()
        finally:
            os._exit(127)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
