"""What each account builds in Open MCT (plots, tables, layouts, folders, command stacks): saved per
account in the web server's own SQLite file, as Open MCT's object provider for its "mine"
namespace reads and writes them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from flight.database import open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    account TEXT NOT NULL, key TEXT NOT NULL, object TEXT NOT NULL, PRIMARY KEY (account, key));
"""
MAX_OBJECT_OCTETS = 1 << 20


class ObjectError(ValueError):
    """An object that cannot be saved; the message says why."""


class AccountObjects:
    def __init__(self, path: Path) -> None:
        try:
            self.db = open_database(path, SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ObjectError(f"web state {exc}") from None

    def get(self, account: str, key: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT object FROM objects WHERE account = ? AND key = ?", (account, key)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, account: str, key: str, obj: Any) -> None:
        if not isinstance(obj, dict):
            raise ObjectError("an object is a JSON map")
        text = json.dumps(obj)
        if len(text) > MAX_OBJECT_OCTETS:
            raise ObjectError(f"an object is at most {MAX_OBJECT_OCTETS} octets")
        with self.db:
            self.db.execute(
                "INSERT INTO objects (account, key, object) VALUES (?, ?, ?) "
                "ON CONFLICT (account, key) DO UPDATE SET object = excluded.object",
                (account, key, text),
            )

    def close(self) -> None:
        self.db.close()
