"""The SHA-256 digests a job declares for its result files, checked before the files go down.

A job may write ``SHA256SUMS`` into its directory (sha256sum's format: 64 hexadecimal digits, a
space, a space or ``*``, the path) with the digests of its results as it computed them, from the
octets in its memory. A result whose file no longer has that digest when the job has ended was
altered after the job wrote it (a radiation upset in storage, a failing disk): the job's results
are then suspect. A result the job declared nothing for is not checked; what the file cannot say
(a malformed line) is ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

from flight.jobs.sandbox import read_own

SUMS_FILE = "SHA256SUMS"
SUMS_LIMIT = 64 * 1024  # characters read of it: 32 results and their paths fit many times over
_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


def declared(workdir: Path) -> dict[str, str]:
    """The digests the job declared, by result path (none when it wrote no SHA256SUMS)."""
    try:
        text = read_own(workdir, SUMS_FILE, SUMS_LIMIT)
    except OSError:
        return {}
    found = (_LINE.fullmatch(line.rstrip("\r")) for line in text.splitlines())
    return {m.group(2): m.group(1).lower() for m in found if m is not None}


def altered(workdir: Path, digests: dict[str, str]) -> list[str]:
    """The result paths whose SHA-256 now (``digests``, by path) is not the one the job declared
    for it."""
    sums = declared(workdir)
    return [path for path, digest in digests.items() if path in sums and digest != sums[path]]
