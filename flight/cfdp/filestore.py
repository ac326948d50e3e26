"""The CFDP file store: names resolved inside one root, partial files, atomic delivery.

A name a PDU carries is never trusted: ``..``, NUL octets and symbolic links that lead outside
the root are refused with FilestoreError, so nothing is ever written outside the store. A name a
CFDP peer gives (``rooted``) that begins with ``/`` is taken from the store's own root, as users
of cFS CF (``/cf/...``) and of LibreCube (``/payload.bin``) write names in their virtual file
stores; a name given on board (a command's file, a consignment's) that begins with ``/`` is
refused, as it would be taken for a path of the flight computer's. Files being received live
in ``.partial/`` and reach their name only when complete and verified, by an atomic rename after
an fsync.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

PARTIAL_DIR = ".partial"


class FilestoreError(ValueError):
    """A file name or operation the store refuses."""


class FileStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / PARTIAL_DIR).mkdir(exist_ok=True)

    def resolve(self, name: str, rooted: bool = False) -> Path:
        """The path of ``name`` inside the store (``rooted``: a leading ``/`` is the store's
        root); FilestoreError if it would leave it."""
        if not name or "\0" in name:
            raise FilestoreError(f"file name {name!r} is empty or holds a NUL")
        parts = PurePosixPath(name).parts
        if rooted and parts and parts[0].startswith("/"):
            parts = parts[1:]
        if not parts or parts[0].startswith("/") or ".." in parts:
            raise FilestoreError(f"file name {name!r} leaves the file store")
        if parts[0] == PARTIAL_DIR:
            raise FilestoreError(f"file name {name!r} names the store's own partial files")
        path = self.root.joinpath(*parts)
        if not path.resolve().is_relative_to(self.root):
            raise FilestoreError(f"file name {name!r} leads outside the file store by a link")
        return path

    def partial(self, source_id: int, seq_num: int) -> Path:
        return self.root / PARTIAL_DIR / f"{source_id}-{seq_num}"

    def deliver(self, partial: Path, name: str, rooted: bool = False) -> Path:
        """Move a complete, verified partial file to its name (fsynced, atomic)."""
        final = self.resolve(name, rooted)
        final.parent.mkdir(parents=True, exist_ok=True)
        if not final.parent.resolve().is_relative_to(self.root):
            raise FilestoreError(f"file name {name!r} leads outside the file store by a link")
        os.replace(partial, final)
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return final
