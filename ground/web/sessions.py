"""Login sessions of the web mission control.

A login checks the password against the account store (Argon2id) and is rate-limited per host
and name. A session is a random 256-bit id in a cookie that is Secure, HttpOnly and
SameSite=Strict, with a CSRF token of its own that every state-changing request carries in a
header; it ends at logout, after IDLE_S without a request, or after LIFETIME_S.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from dataclasses import dataclass, field

from ground.accounts.limiter import FailureLimiter
from ground.accounts.store import Account, AccountStore, verify_password

COOKIE = "gs_session"
CSRF_HEADER = "X-CSRF-Token"
IDLE_S = 30 * 60.0
LIFETIME_S = 12 * 3600.0
REFUSAL = "wrong name or password"


class LoginRefused(Exception):
    """The login is refused; the message says nothing of which part was wrong."""


@dataclass
class WebSession:
    session_id: str
    account: Account
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    started: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)

    def csrf_ok(self, presented: str | None) -> bool:
        """Whether a request carries this session's CSRF token."""
        return presented is not None and hmac.compare_digest(presented, self.csrf)


class WebSessions:
    """The sessions in force, in memory (a restart logs everyone out)."""

    def __init__(self, accounts: AccountStore) -> None:
        self.accounts = accounts
        self.limiter = FailureLimiter()
        self._sessions: dict[str, WebSession] = {}

    async def login(self, name: str, password: str, host: str) -> WebSession:
        """A new session; LoginRefused (rate-limited, or a wrong name or password) otherwise.
        The password hash is checked on a worker thread: the server serves on meanwhile."""
        key = (host, name[:64])
        wait = self.limiter.blocked_for(key)
        if wait:
            raise LoginRefused(f"too many failed attempts: try again in {wait:.0f} s")
        hashed = self.accounts.password_hash(name)
        matched = await asyncio.to_thread(verify_password, hashed, password)
        account = self.accounts.account(name) if matched else None
        if account is None:
            self.limiter.failed(key)
            raise LoginRefused(REFUSAL)
        session = WebSession(secrets.token_urlsafe(32), account)
        self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str | None) -> WebSession | None:
        """The session of a cookie, if it is in force (its account as the store has it now)."""
        session = self._sessions.get(session_id or "")
        if session is None:
            return None
        now = time.monotonic()
        account = self.accounts.account(session.account.name)
        if account is None or now - session.seen > IDLE_S or now - session.started > LIFETIME_S:
            self._sessions.pop(session.session_id, None)
            return None
        session.account, session.seen = account, now
        return session

    def end(self, session: WebSession) -> None:
        self._sessions.pop(session.session_id, None)

    def of(self, name: str) -> list[WebSession]:
        """The sessions of an account."""
        return [s for s in self._sessions.values() if s.account.name == name]
