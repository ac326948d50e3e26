"""Where jobs run when the controller runs as root: as a dedicated unprivileged user, with resource
limits, in a state directory laid out so that they reach what is theirs and nothing else.

    STATE/            root, 0711: passed through, not listed
      jobs.sqlite ... root, 0640 at most (the controller's umask is 027): unreadable to jobs
      downlink/ ...   root, 0750: closed to jobs
      bin/            as provisioned: the job area, readable and executable
      files/          root:JOBGROUP, 2750: the file store, read by jobs through their group
      jobs/           root, 0711
        ID/           the job user, 0700: the job's own directory (earlier ones 0700 too)

Keys live outside the state directory in a 0600 file of root's. The limits are applied by the
job's supervisor (flight/jobs/supervise.py) in the job's process before it executes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

CONTROLLER_UMASK = 0o027
FILES_MODE = 0o2750  # the file store: new files take the job group from the directory
log = logging.getLogger("flight.jobs.sandbox")
_SHARED = ("bin", "files", "jobs")  # what jobs reach in the state directory


class SandboxError(ValueError):
    """The job user cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class JobUser:
    """The account jobs run as."""

    name: str
    uid: int
    gid: int


def job_user(name: str) -> JobUser:
    """The account named; SandboxError if there is none or it is root's."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise SandboxError(
            f"job user {name} does not exist: create it "
            f"(useradd --system --no-create-home --shell /usr/sbin/nologin {name})"
        ) from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise SandboxError(f"job user {name} is privileged (uid or gid 0): name another")
    return JobUser(name, entry.pw_uid, entry.pw_gid)


def prepare_state_dir(state_dir: Path, user: JobUser) -> None:
    """Lay out the state directory as the module says (existing files included); the
    controller's umask must be CONTROLLER_UMASK for what it makes later."""
    for directory in (state_dir, state_dir / "jobs"):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o711)
    for entry in state_dir.iterdir():
        if entry.is_symlink() or entry.name in _SHARED:
            continue
        os.chmod(entry, 0o750 if entry.is_dir() else stat.S_IMODE(entry.stat().st_mode) & 0o750)
    for job_dir in (state_dir / "jobs").iterdir():  # earlier jobs' directories: their own
        if job_dir.is_dir() and not job_dir.is_symlink():
            os.chmod(job_dir, 0o700)
    files = state_dir / "files"
    files.mkdir(exist_ok=True)
    os.chown(files, -1, user.gid)
    if stat.S_IMODE(files.stat().st_mode) != FILES_MODE:
        try:
            os.chmod(files, FILES_MODE)
        except PermissionError:  # the unit forbids set-group-ID (RestrictSUIDSGID=)
            os.chmod(files, FILES_MODE & 0o777)
            log.warning(
                "%s cannot be made set-group-ID here: files arriving while the controller runs "
                "are the job group's from its next start (a flight disk provisions it 2750)",
                files,
            )
    for path in files.rglob("*"):
        if not path.is_symlink():
            os.chown(path, -1, user.gid)
            os.chmod(path, (stat.S_IMODE(path.stat().st_mode) & 0o750) | 0o040)


def hand_over(workdir: Path, user: JobUser) -> None:
    """Give a job its directory (and what is in it: a retry's checkpoints, say), 0700."""
    for root, dirs, names in os.walk(workdir):  # links are changed, never followed
        for name in (*dirs, *names):
            os.chown(os.path.join(root, name), user.uid, user.gid, follow_symlinks=False)
    os.chown(workdir, user.uid, user.gid)
    os.chmod(workdir, 0o700)


def inside(workdir: Path, relative: str) -> bool:
    """Whether a path in a job's directory is what it says, no link on the way: the controller
    reads and sends only such files (a job must not have it touch what the job cannot)."""
    return (workdir / relative).resolve() == workdir.resolve() / relative


def read_own(workdir: Path, relative: str, limit: int = 4096) -> str:
    """A file the job writes for the controller (progress, checkpoint name, its results'
    digests), its first ``limit`` characters; OSError if it is missing or reached through a
    link."""
    if not inside(workdir, relative):
        raise OSError(f"{relative}: reached through a link")
    fd = os.open(workdir / relative, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, errors="replace") as f:
        return f.read(limit)


def own_sha256(workdir: Path, relative: str) -> str | None:
    """The SHA-256 of a file the job wrote (a checkpoint); None if it is missing, not a regular
    file, unreadable, or reached through a link."""
    if not inside(workdir, relative):
        return None
    try:
        fd = os.open(workdir / relative, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                return hashlib.file_digest(f, "sha256").hexdigest()
        except OSError:  # an unreadable block: no digest
            pass
        return None


def sync_dir(directory: Path) -> None:
    """Make the names in a directory durable (a rename into it survives a power cut). The boot
    guard and the job supervisor keep their own: each runs as a script of its own, standard
    library only."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` whole: written beside it, synced and renamed into place, so a
    power cut leaves the old file or the new one, never a mix."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sync_dir(path.parent)


def write_own(path: Path, text: str) -> None:
    """A new file of the controller's in a job's directory, whatever the job left at the path;
    on disk when this returns (a power cut leaves it whole, or leaves none)."""
    path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    with os.fdopen(os.open(path, flags, 0o644), "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
