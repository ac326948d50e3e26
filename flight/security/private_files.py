"""Files only their owner may read: key files and credential files, written with mode 0600 and
refused when anyone else could read them or when they belong to another user."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class PrivateFileError(ValueError):
    """The file cannot be used; the message says why in one line."""


def read_private(path: Path, what: str) -> str:
    """The text of ``path`` (a ``what``: "key file", "token file"), once its owner and mode are
    right; PrivateFileError saying what to do otherwise."""
    try:
        info = path.stat()
    except OSError as exc:
        raise PrivateFileError(f"{what} {path}: {exc.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PrivateFileError(
            f"{what} {path} is open to others (mode {stat.S_IMODE(info.st_mode):04o}): "
            f"chmod 600 {path}"
        )
    if info.st_uid != os.geteuid():
        raise PrivateFileError(f"{what} {path} belongs to uid {info.st_uid}, not to this user")
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PrivateFileError(f"{what} {path}: {exc}") from None


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by its owner only (created with mode
    0600, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover temporary file keeps its mode otherwise
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
