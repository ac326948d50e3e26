"""The audit trail: every login, every command and upload with the account that sent it, from
where and what became of it, every refusal and every change of command authority; append-only,
in the station's archive (ground/archive/), and the web server's own in its state file
(``STATE/web.sqlite``: its logins, refusals and alarm actions).

Each row carries the SHA-256 of the row before it and of itself (a hash chain from GENESIS), so
an edited, inserted or deleted row breaks the chain at that row: ``python -m ground archive
verify`` finds it. Deleting rows from the end leaves a shorter chain that still holds; the head
hash that ``verify`` prints, and the station logs every HEAD_LOG_EVERY rows, is what to keep
elsewhere to detect that too.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

# the audit table's columns, in the archive's portable types (ground/archive/schema.py makes it)
COLUMNS = (
    ("seq", "key"), ("time", "real NOT NULL"), ("account", "text"), ("peer", "text"),
    ("action", "text NOT NULL"), ("outcome", "text NOT NULL"), ("detail", "text NOT NULL"),
    ("prev", "blob NOT NULL"), ("hash", "blob NOT NULL"),
)  # fmt: skip
GENESIS = bytes(32)
HEAD_LOG_EVERY = 1000


@dataclass(frozen=True)
class AuditRow:
    seq: int
    time: float
    account: str | None
    peer: str | None
    action: str
    outcome: str
    detail: dict[str, Any]
    prev: bytes
    hash: bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "account": self.account,
            "peer": self.peer,
            "action": self.action,
            "outcome": self.outcome,
            "detail": self.detail,
            "hash": self.hash.hex(),
        }


def row_hash(
    prev: bytes,
    seq: int,
    when: float,
    account: Any,
    peer: Any,
    action: str,
    outcome: str,
    detail: str,
) -> bytes:
    """The hash that chains a row to the one before it."""
    body = json.dumps([seq, repr(when), account, peer, action, outcome, detail])
    return hashlib.sha256(prev + body.encode()).digest()


class AuditTrail:
    """Audit rows held in memory until the archive's next flush writes them (in its
    transaction), chained as they are appended."""

    def __init__(self, db: Any) -> None:
        self.db = db  # a sqlite3 connection or the archive's database, with the audit table
        last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        self.seq, self.head = (last[0], bytes(last[1])) if last else (0, GENESIS)
        self.pending: list[tuple] = []

    def append(
        self,
        when: float,
        account: str | None,
        peer: str | None,
        action: str,
        outcome: str,
        **detail: Any,
    ) -> bytes:
        """One row; the chain's new head."""
        self.seq += 1
        text = canonical_json(detail)
        digest = row_hash(self.head, self.seq, when, account, peer, action, outcome, text)
        self.pending.append(
            (self.seq, when, account, peer, action, outcome, text, self.head, digest)
        )
        self.head = digest
        return digest

    def write_pending(self) -> None:
        """Insert the held rows (inside the caller's transaction)."""
        self.db.executemany(
            "INSERT INTO audit (seq, time, account, peer, action, outcome, detail, prev, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.pending,
        )

    def written(self) -> None:
        """The held rows are committed."""
        self.pending = []

    def record(self, *row: Any, **detail: Any) -> None:
        """One row, committed at once, for a writer with no flushes of its own (the web server);
        rows that cannot be committed (a full disk) stay held and go with the next."""
        self.append(*row, **detail)  # when, account, peer, action, outcome
        try:
            self.write_pending()
        except (sqlite3.Error, OSError):
            return
        self.written()


def audit_rows(db: Any, action: str | None = None) -> list[AuditRow]:
    """The rows of an archive's audit trail, oldest first (of one action if given)."""
    sql = "SELECT seq, time, account, peer, action, outcome, detail, prev, hash FROM audit"
    rows = db.execute(
        sql + (" WHERE action = ?" if action else "") + " ORDER BY seq", (action,) if action else ()
    )
    return [
        AuditRow(s, t, a, p, act, o, json.loads(d), bytes(prev), bytes(h))
        for s, t, a, p, act, o, d, prev, h in rows
    ]


def verify_chain(db: Any) -> tuple[int, bytes, str | None]:
    """Walk the chain: the rows checked, the head hash, and where it first breaks (None if it
    holds)."""
    head, count, expected_seq = GENESIS, 0, 1
    rows = db.execute(
        "SELECT seq, time, account, peer, action, outcome, detail, prev, hash FROM audit "
        "ORDER BY seq"
    )
    for seq, when, account, peer, action, outcome, detail, prev, digest in rows:
        count += 1
        if seq != expected_seq:
            return count, head, f"row {expected_seq} is missing (the next is {seq})"
        if bytes(prev) != head:
            return count, head, f"row {seq} does not follow the row before it"
        if row_hash(head, seq, when, account, peer, action, outcome, detail) != bytes(digest):
            return count, head, f"row {seq} was changed after it was written"
        head, expected_seq = bytes(digest), seq + 1
    return count, head, None


def canonical_json(value: Any) -> str:
    """Any value a client may send (maps with keys of any type, octets) as JSON with sorted keys:
    keys as text, octets as hex, anything else JSON lacks as its repr."""
    return json.dumps(_plain(value), sort_keys=True)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
