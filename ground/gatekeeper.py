"""The gate of the station's client port: every connection proves it holds a station token
(ground/accounts/credentials.py) before the station sends or takes anything else.

The handshake (docs/icd.md, Ground station interface):

    station -> {"op": "hello", "auth": "token-proof-1", "nonce": 32 octets}
    client  -> {"op": "auth", "token_id": "16 hex", "proof": 32 octets}
    station -> {"op": "welcome", ...}  or  {"op": "auth-failed", "message": ...} and it closes

A connection that sends anything else first, or nothing within AUTH_TIMEOUT_S, is closed. Every
attempt is audited and counted; the refusal says nothing of which part was wrong. Failures are
limited per host and token id: after FAILURES_ALLOWED within FAILURE_WINDOW_S, that host's
attempts with that token id (or with none) are refused unchecked until the oldest failure leaves
the window. Keying on the token id too means junk from a host never locks its operators out.
A session's token is looked up again for every request, so a revoked token or a removed account
stops working at once.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ground.accounts.credentials import NONCE_LEN, verify
from ground.accounts.limiter import FailureLimiter
from ground.accounts.store import Account, AccountStore
from ground.messages import encode_message

MECHANISM = "token-proof-1"
AUTH_TIMEOUT_S = 10.0
FAILURES_ALLOWED = 5
FAILURE_WINDOW_S = 60.0
REFUSAL = "authentication failed"


@dataclass
class Session:
    """An authenticated connection: whose, with which token, from where, and the one
    spacecraft whose broadcasts it takes (None: every spacecraft's)."""

    account: Account
    token_id: str
    peer: str
    watching: int | None = None


class Gatekeeper:
    """Admits connections that prove a token in force."""

    def __init__(self, accounts: AccountStore, audit: Callable[..., Any]) -> None:
        self.accounts = accounts
        self.audit = audit  # audit(account, peer, action, outcome, **detail)
        self.counters: Counter[str] = Counter()
        self.limiter = FailureLimiter(FAILURES_ALLOWED, FAILURE_WINDOW_S)

    async def admit(
        self,
        messages: AsyncIterator[dict[str, Any]],
        send: Callable[[bytes], None],
        peer: str,
        host: str,
    ) -> Session | None:
        """The handshake on a new connection from ``peer`` (host:port) on ``host``; its session,
        or None when it is to be closed (the refusal already sent)."""
        nonce = secrets.token_bytes(NONCE_LEN)
        send(encode_message({"op": "hello", "auth": MECHANISM, "nonce": nonce}))
        try:
            message = await asyncio.wait_for(anext(messages), AUTH_TIMEOUT_S)
        except (TimeoutError, StopAsyncIteration):
            self.counters["auth_missing"] += 1
            self.audit(None, peer, "login", "failed: no credentials")
            return None
        token_id = _token_id(message)
        key = (host, token_id)
        wait = self.limiter.blocked_for(key)
        if wait:
            self.counters["auth_rate_limited"] += 1
            self.audit(None, peer, "login", "refused: too many failures", token_id=token_id)
            send(_failed(f"too many failed attempts: try again in {wait:.0f} s"))
            return None
        session, why = self._check(message, nonce, peer)
        if session is None:
            self.counters["auth_failed"] += 1
            self.limiter.failed(key)
            self.audit(None, peer, "login", f"failed: {why}", token_id=token_id)
            send(_failed(REFUSAL))
            return None
        self.counters["auth_ok"] += 1
        self.audit(session.account.name, peer, "login", "ok", token_id=session.token_id)
        return session

    def _check(
        self, message: dict[str, Any], nonce: bytes, peer: str
    ) -> tuple[Session | None, str]:
        if message.get("op") != "auth":
            return None, f"{str(message.get('op'))[:32]!r} before authenticating"
        token_id, answer = message.get("token_id"), message.get("proof")
        if not isinstance(token_id, str) or not isinstance(answer, bytes):
            return None, "a malformed auth message"
        found = self.accounts.token_key(token_id)
        if found is None:
            return None, "an unknown or revoked token"
        account, key = found
        if not verify(key, answer, nonce, token_id):
            return None, "a wrong proof"
        return Session(account, token_id, peer), ""

    def current(self, session: Session) -> Account | None:
        """The session's account as the store has it now; None once its token is revoked or
        the account removed."""
        found = self.accounts.token_key(session.token_id)
        if found is None:
            return None
        session.account = found[0]
        return session.account


def _failed(message: str) -> bytes:
    return encode_message({"op": "auth-failed", "message": message})


def _token_id(message: dict[str, Any]) -> str | None:
    token_id = message.get("token_id") if message.get("op") == "auth" else None
    return token_id[:32] if isinstance(token_id, str) else None
