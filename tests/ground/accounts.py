"""Accounts for tests that run a station of their own: a store with the named accounts and a
station token for each."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ground.accounts.credentials import parse_token, proof
from ground.accounts.store import AccountStore, Role
from ground.messages import encode_message, read_messages


def provision(directory: Path, **roles: str) -> tuple[Path, dict[str, str]]:
    """A store in ``directory`` with an account per keyword (name=role, token only); its path and
    each account's token. Without keywords: one operator, ``ops``."""
    path = directory / "users.sqlite"
    store = AccountStore(path)
    tokens = {}
    for name, role in (roles or {"ops": "operator"}).items():
        store.add(name, Role.named(role), None)
        tokens[name] = store.issue_token(name)[1]
    store.close()
    return path, tokens


async def open_session(port: int, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection to a station on loopback, past its handshake: what a client that speaks
    the protocol by hand (a hostile one) has once it holds a token."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    messages = read_messages(reader)
    hello = await anext(messages)
    token_id, secret = parse_token(token)
    writer.write(
        encode_message(
            {"op": "auth", "token_id": token_id, "proof": proof(secret, hello["nonce"], token_id)}
        )
    )
    welcome = await anext(messages)
    assert welcome["op"] == "welcome", welcome
    return reader, writer
