"""The ground archive (ground/archive/store.py), in SQLite or PostgreSQL."""

from ground.archive.chunks import CHUNK, TM_MIN, ArchivedPacket, header_fields
from ground.archive.databases import ArchiveError, shown
from ground.archive.schema import migrate
from ground.archive.store import Archive, ArchivedCommand

__all__ = ["CHUNK", "TM_MIN", "Archive", "ArchiveError", "ArchivedCommand", "ArchivedPacket",
           "header_fields", "migrate", "shown"]  # fmt: skip
