"""A command's file argument: a name in the payload's file store, where the ground uplinks files
(bundles, tables, job inputs), refused at acceptance when it leaves the store or is not there."""

from __future__ import annotations

from pathlib import Path

from flight import dictionary as d
from flight.cfdp.filestore import FileStore, FilestoreError
from flight.commanding.dispatch import CommandError


def uplinked_file(files: FileStore, name: str) -> Path:
    """The file ``name`` of the file store; CommandError FILE_NAME_INVALID or FILE_NOT_FOUND."""
    try:
        path = files.resolve(name)
    except FilestoreError as exc:
        raise CommandError(d.FailureCode.FILE_NAME_INVALID, str(exc)) from None
    if not path.is_file():
        raise CommandError(d.FailureCode.FILE_NOT_FOUND, f"no file {name!r} on board")
    return path
