"""Opening the project's SQLite files (job store, CFDP journal, ground archive and file
registry) one way: write-ahead log, the durability asked for, the schema in place, and a file
that is not a database, or is damaged, named in the error."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_database(path: Path, schema: str, synchronous: str = "FULL") -> sqlite3.Connection:
    """The database at ``path`` (made when missing, its directory too) in autocommit mode;
    sqlite3.DatabaseError naming the file when it cannot be read as one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.executescript(schema)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise sqlite3.DatabaseError(f"{path}: {exc}") from None
    return db
