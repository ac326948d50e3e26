"""Station credentials: the tokens ``python -m ground users token`` issues, how a client proves it
holds one without sending it, and where a client finds its own.

A token is ``gst1_<id>_<secret>``: a public id (16 hex digits) and a 256-bit secret. The store
keeps only StoredKey = SHA-256(secret). The station's hello carries a fresh 32-octet nonce; the
client answers with the token id and

    proof = secret XOR HMAC-SHA-256(StoredKey, AuthMessage),  AuthMessage = LABEL | nonce | id

which is the client proof of SCRAM (RFC 5802, section 3). The station recovers the secret as
proof XOR HMAC(StoredKey, AuthMessage) and checks that its SHA-256 is StoredKey. The secret never
crosses the wire, a recorded answer is worthless against the next nonce, and a copy of the store
logs no one in.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import ssl
from collections.abc import Mapping
from pathlib import Path

from flight.security.private_files import PrivateFileError, read_private, write_private
from ground.tls import client_context

PREFIX = "gst1"
NONCE_LEN = 32
SECRET_LEN = 32
LABEL = b"orbital-gpu-payload ground station auth v1\0"
TOKEN_ENV = "GROUND_TOKEN"
TOKEN_FILE_ENV = "GROUND_TOKEN_FILE"
_TOKEN = re.compile(rf"{PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{43}})")


class CredentialError(ValueError):
    """No usable credential; the message says what to do, in one line."""


def new_token() -> tuple[str, bytes, str]:
    """A fresh token: its id, its secret and the text handed to its holder."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_bytes(SECRET_LEN)
    text = f"{PREFIX}_{token_id}_{base64.urlsafe_b64encode(secret).decode().rstrip('=')}"
    return token_id, secret, text


def parse_token(text: str) -> tuple[str, bytes]:
    """A token's id and secret; CredentialError if the text is not a token."""
    match = _TOKEN.fullmatch(text.strip())
    if match is None:
        raise CredentialError(f"not a station token (they read {PREFIX}_<16 hex>_<43 characters>)")
    try:
        secret = base64.urlsafe_b64decode(match.group(2) + "=")
    except binascii.Error:
        raise CredentialError("not a station token: its secret does not decode") from None
    return match.group(1), secret


def stored_key(secret: bytes) -> bytes:
    """What the account store keeps of a token's secret."""
    return hashlib.sha256(secret).digest()


def _signature(key: bytes, nonce: bytes, token_id: str) -> bytes:
    return hmac.new(key, LABEL + nonce + token_id.encode(), hashlib.sha256).digest()


def proof(secret: bytes, nonce: bytes, token_id: str) -> bytes:
    """The client's answer to the station's nonce."""
    signature = _signature(stored_key(secret), nonce, token_id)
    return bytes(a ^ b for a, b in zip(secret, signature, strict=True))


def verify(key: bytes, answer: bytes, nonce: bytes, token_id: str) -> bool:
    """Whether ``answer`` proves the secret behind StoredKey ``key`` for this nonce."""
    if len(answer) != SECRET_LEN or len(key) != SECRET_LEN:
        return False
    signature = _signature(key, nonce, token_id)
    secret = bytes(a ^ b for a, b in zip(answer, signature, strict=True))
    return hmac.compare_digest(stored_key(secret), key)


def write_token_file(path: Path, token: str, account: str) -> None:
    """Write a token file, readable by its owner only."""
    write_private(path, f"# station token of {account} (python -m ground users token)\n{token}\n")


def read_token_file(path: Path) -> str:
    """The token in a token file (its other lines are comments); CredentialError otherwise."""
    try:
        text = read_private(path, "token file")
    except PrivateFileError as exc:
        raise CredentialError(str(exc)) from None
    lines = [line.strip() for line in text.splitlines()]
    tokens = [line for line in lines if line and not line.startswith("#")]
    if len(tokens) != 1:
        raise CredentialError(f"token file {path}: holds {len(tokens)} tokens, not one")
    parse_token(tokens[0])
    return tokens[0]


def default_token_file(environ: Mapping[str, str] = os.environ) -> Path:
    """Where a client looks for its token when told nothing else."""
    config = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(config).expanduser() / "orbital-gpu-payload" / "station.token"


def find_token(token_file: Path | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The client's token, from the first of: ``--token-file``, $GROUND_TOKEN (the token itself),
    $GROUND_TOKEN_FILE, the default token file. CredentialError when none holds one."""
    if token_file is not None:
        return read_token_file(token_file)
    if environ.get(TOKEN_ENV):
        parse_token(environ[TOKEN_ENV])
        return environ[TOKEN_ENV].strip()
    if environ.get(TOKEN_FILE_ENV):
        return read_token_file(Path(environ[TOKEN_FILE_ENV]))
    default = default_token_file(environ)
    if default.exists():
        return read_token_file(default)
    raise CredentialError(
        f"no station credentials: give --token-file, set {TOKEN_ENV} or {TOKEN_FILE_ENV}, or put "
        f"a token in {default} (python -m ground users token NAME --out FILE)"
    )


def add_credential_arguments(parser: argparse.ArgumentParser) -> None:
    """``--token-file`` and ``--tls-ca``, as every station client's command line takes them."""
    parser.add_argument(
        "--token-file",
        type=Path,
        help=f"the station token (mode 0600); otherwise ${TOKEN_ENV}, ${TOKEN_FILE_ENV}, then "
        "~/.config/orbital-gpu-payload/station.token (docs/security.md)",
    )
    parser.add_argument(
        "--tls-ca", type=Path, help="connect by TLS, trusting this PEM certificate authority"
    )


def client_credentials(args: argparse.Namespace) -> tuple[str, ssl.SSLContext | None]:
    """The token and TLS context a client's arguments give; CredentialError or TlsError."""
    tls = client_context(args.tls_ca) if args.tls_ca is not None else None
    return find_token(args.token_file), tls
