"""A job's supervisor process: runs the job's executable as its child and records its exit status
durably in a file, so a controller that restarts after a crash learns how a job it started
ended (a process's status can only be waited for by its parent).

Run as ``python -I -S supervise.py LOCK_FD STATUS_FILE EXECUTABLE [ARG ...]`` in the job's
process group. LOCK_FD is the job's lock file, locked by the controller before it started this
process: holding it for as long as this process lives is what tells a restarted controller that
the job is still running. Signals the controller sends to the group reach the job directly; this
process only waits. Standard library only: it starts once per job.
"""

import os
import signal
import sys

PID_FILE = "supervisor.pid"


def _record(path: str, status: int) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, f"{status}\n".encode())
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
    lock_fd, status_path, executable, args = int(argv[0]), argv[1], argv[2], argv[2:]
    os.set_inheritable(lock_fd, False)  # the job must not keep the lock after this process
    try:  # for a restarted controller that never learned the pid (best effort: disk full)
        with open(PID_FILE, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError:
        pass
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, lambda *_: None)  # a handler, not SIG_IGN: the job gets the default
    try:
        pid = os.posix_spawn(executable, args, os.environ)
    except OSError as exc:
        try:
            sys.stderr.write(f"cannot start {executable}: {exc.strerror}\n")
            sys.stderr.flush()
            _record(status_path, 127)
        except OSError:
            pass  # a full disk: our own status says it
        return 127
    _, wait_status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    try:
        _record(status_path, code)
    except OSError:  # a full disk: the parent still learns the status from ours
        return code if code >= 0 else 128 - code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
