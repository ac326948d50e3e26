"""Files of DOWNLINK_FILE on a satellite with a relay (docs/constellation.md): the file copied as
it stands when asked for, and named by its content, ``_file/DIGEST/PATH`` (DIGEST the first 16
hexadecimal digits of its SHA-256), so that it can be routed across the mesh like a job's
results. The relays and the ground keep a file once by its origin and name; a file asked for
again after it changed is another file under another name, and one asked for again unchanged
while this satellite still holds it is the same file, sent once. Asked for again unchanged after
it went on, it goes again as ``_file/DIGEST-N/PATH`` (N counting the times), which no relay
takes for a copy of the first. The ground files it under PATH.

Job ids begin with a letter or a digit, so no job's results are taken for such a file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath

from flight.jobs.sandbox import sync_dir

SNAPSHOT_PREFIX = "_file/"
DIGEST_DIGITS = 16
_CHUNK = 1 << 20


def snapshot_name(digest: str, relative: str, again: int = 0) -> str:
    """The name of a file's copy: its content's digest, the times it was sent before."""
    times = f"-{again}" if again else ""
    return f"{SNAPSHOT_PREFIX}{digest[:DIGEST_DIGITS]}{times}/{relative}"


def parse_snapshot(name: str) -> str | None:
    """The path a snapshot's name stands for (None: not a snapshot's name)."""
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or f"{parts[0]}/" != SNAPSHOT_PREFIX:
        return None
    digest, _, times = parts[1].partition("-")
    if len(digest) != DIGEST_DIGITS or not all(c in "0123456789abcdef" for c in digest):
        return None
    if "-" in parts[1] and not (times.isdigit() and times.isascii() and times[0] != "0"):
        return None
    return "/".join(parts[2:])


def copy_hashed(source: Path, target: Path) -> str:
    """Copy a file, flushed to the disk, in one pass that also takes its SHA-256 (hex)."""
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, target.open("wb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    sync_dir(target.parent)
    return digest.hexdigest()
