"""The account store: accounts with their role and password hash, and the station tokens issued to
them, in one SQLite file readable by its owner only.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second recommended
setting: 64 MiB, 3 passes). Of a token only StoredKey is kept (ground/accounts/credentials.py).
Removing an account removes its tokens; a revoked token stays listed, marked revoked.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from flight.database import open_database
from ground.accounts.credentials import new_token, stored_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, account TEXT NOT NULL, stored_key BLOB NOT NULL, issued REAL NOT NULL,
    revoked REAL, label TEXT NOT NULL DEFAULT '');
"""
_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,31}")
_HASHER = PasswordHasher()
# verified against when the name is unknown, so that a wrong name costs what a wrong password does
_NOBODY = _HASHER.hash("no account has this password")


class Role(IntEnum):
    """What an account may do: viewers watch, operators command, admins also manage keys and
    images and can take command authority."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def named(cls, name: str) -> Role:
        """The role of that name (viewer, operator, admin); AccountError otherwise."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise AccountError(f"no role {name!r}: viewer, operator or admin") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class AccountError(ValueError):
    """The account store cannot do what was asked; the message says why in one line."""


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    created: float
    has_password: bool


@dataclass(frozen=True)
class Token:
    token_id: str
    account: str
    issued: float
    revoked: float | None
    label: str = ""  # "web": held by the web server for one login session


class AccountStore:
    """The accounts and tokens in one SQLite file (made, mode 0600, when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fresh = not path.exists()
        try:
            self.db = open_database(path, SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise AccountError(f"account store {exc}") from None
        if fresh:
            os.chmod(path, 0o600)

    def close(self) -> None:
        self.db.close()

    def version(self) -> int:
        """A number that changes whenever another process changes the store."""
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    # --- accounts
    def add(self, name: str, role: Role, password: str | None) -> Account:
        """A new account; without a password it can use tokens only."""
        if not _NAME.fullmatch(name):
            raise AccountError(
                f"{name!r} is not an account name: a lower-case letter, then up to 31 of a-z 0-9 "
                "_ . -"
            )
        if password is not None and not password:
            raise AccountError("an empty password is no password")
        hashed = _HASHER.hash(password) if password is not None else None
        try:
            with self.db:
                self.db.execute(
                    "INSERT INTO accounts (name, role, password, created) VALUES (?, ?, ?, ?)",
                    (name, role.label, hashed, time.time()),
                )
        except sqlite3.IntegrityError:
            raise AccountError(f"there is already an account {name!r}") from None
        account = self.account(name)
        assert account is not None
        return account

    def remove(self, name: str) -> None:
        """Remove an account and its tokens; AccountError if there is none of that name."""
        with self.db:
            if not self.db.execute("DELETE FROM accounts WHERE name = ?", (name,)).rowcount:
                raise AccountError(f"no account {name!r}")
            self.db.execute("DELETE FROM tokens WHERE account = ?", (name,))

    def account(self, name: str) -> Account | None:
        row = self.db.execute(
            "SELECT name, role, created, password IS NOT NULL FROM accounts WHERE name = ?",
            (name,),
        ).fetchone()
        return _account(row) if row else None

    def accounts(self) -> list[Account]:
        rows = self.db.execute(
            "SELECT name, role, created, password IS NOT NULL FROM accounts ORDER BY name"
        )
        return [_account(row) for row in rows]

    def password_hash(self, name: str) -> str:
        """The account's password hash, or one no password matches (no account, no password):
        what verify_password checks, at the same cost either way."""
        row = self.db.execute("SELECT password FROM accounts WHERE name = ?", (name,)).fetchone()
        return row[0] if row and row[0] else _NOBODY

    def check_password(self, name: str, password: str) -> Account | None:
        """The account if the password is its own; None for a wrong name or password alike (the
        same work is done for both)."""
        if not verify_password(self.password_hash(name), password):
            return None
        return self.account(name)

    # --- tokens
    def issue_token(self, name: str, label: str = "") -> tuple[Token, str]:
        """A new token for the account: its record and its text (shown once, never stored)."""
        if self.account(name) is None:
            raise AccountError(f"no account {name!r}")
        token_id, secret, text = new_token()
        issued = time.time()
        with self.db:
            self.db.execute(
                "INSERT INTO tokens (id, account, stored_key, issued, label) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_id, name, stored_key(secret), issued, label),
            )
        return Token(token_id, name, issued, None, label), text

    def revoke(self, token_id: str) -> Token:
        """Revoke a token; it stops working at once."""
        with self.db:
            done = self.db.execute(
                "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                (time.time(), token_id),
            ).rowcount
        token = next((t for t in self.tokens() if t.token_id == token_id), None)
        if token is None:
            raise AccountError(f"no token {token_id!r}")
        if not done:
            raise AccountError(f"token {token_id} was already revoked")
        return token

    def tokens(self, name: str | None = None) -> list[Token]:
        sql = "SELECT id, account, issued, revoked, label FROM tokens"
        rows = self.db.execute(
            sql + (" WHERE account = ? ORDER BY issued" if name else " ORDER BY issued"),
            (name,) if name else (),
        )
        return [Token(*row) for row in rows]

    def token_key(self, token_id: str) -> tuple[Account, bytes] | None:
        """The account and StoredKey of a token in force; None for an unknown or revoked one."""
        row = self.db.execute(
            "SELECT t.stored_key, a.name, a.role, a.created, a.password IS NOT NULL "
            "FROM tokens t JOIN accounts a ON a.name = t.account "
            "WHERE t.id = ? AND t.revoked IS NULL",
            (token_id,),
        ).fetchone()
        return (_account(row[1:]), bytes(row[0])) if row else None


def verify_password(hashed: str, password: str) -> bool:
    """Whether the password is the one hashed (Argon2id, about 0.1 s: call it off the event
    loop); never for the hash of no account."""
    try:
        matched = _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and hashed != _NOBODY


def _account(row: tuple) -> Account:
    name, role, created, has_password = row
    return Account(name, Role.named(role), created, bool(has_password))
