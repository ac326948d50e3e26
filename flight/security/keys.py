"""Telecommand authentication keys: a key file only its owner can read, holding numbered 256-bit
secrets and which of them are in use.

    # keys.toml (mode 0600)
    [[key]]
    id = 1
    secret = "64 hex digits"
    active = true

The same format on board (every key the spacecraft may be told to use, preloaded) and on the
ground (the keys it signs with). Rotation is by command on board (activate the next key,
deactivate the old one); what is active on board then lives in the controller's security state,
not in this file.
"""

from __future__ import annotations

import os
import secrets
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

KEY_LEN = 32
MAX_KEY_ID = 0xFFFF


class KeyFileError(ValueError):
    """The key file cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class Key:
    """One authentication key."""

    key_id: int
    secret: bytes
    active: bool


def load_keys(path: Path) -> dict[int, Key]:
    """The keys of a key file by id; KeyFileError if it is missing, readable by anyone but its
    owner, not ours, or malformed."""
    try:
        info = path.stat()
    except OSError as exc:
        raise KeyFileError(f"key file {path}: {exc.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path} is open to others (mode {stat.S_IMODE(info.st_mode):04o}): "
            f"chmod 600 {path}"
        )
    if info.st_uid != os.geteuid():
        raise KeyFileError(f"key file {path} belongs to uid {info.st_uid}, not to this user")
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise KeyFileError(f"key file {path}: {exc}") from None
    keys: dict[int, Key] = {}
    for entry in document.get("key", []):
        key = _key(entry, path)
        if key.key_id in keys:
            raise KeyFileError(f"key file {path}: key {key.key_id} twice")
        keys[key.key_id] = key
    if not keys:
        raise KeyFileError(f"key file {path} holds no [[key]]")
    return keys


def _key(entry: object, path: Path) -> Key:
    if not isinstance(entry, dict):
        raise KeyFileError(f"key file {path}: a [[key]] is not a table")
    key_id, secret, active = entry.get("id"), entry.get("secret"), entry.get("active", False)
    if not isinstance(key_id, int) or not 0 <= key_id <= MAX_KEY_ID:
        raise KeyFileError(f"key file {path}: key id {key_id!r} is not 0..{MAX_KEY_ID}")
    try:
        raw = bytes.fromhex(secret) if isinstance(secret, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != KEY_LEN:
        raise KeyFileError(
            f"key file {path}: key {key_id}'s secret is not {KEY_LEN * 2} hex digits"
        )
    if not isinstance(active, bool):
        raise KeyFileError(f"key file {path}: key {key_id}'s active is not true or false")
    return Key(key_id, raw, active)


def write_keys(path: Path, keys: list[Key]) -> None:
    """Write a key file readable by its owner only (created with mode 0600, never wider)."""
    text = "".join(
        f'[[key]]\nid = {k.key_id}\nsecret = "{k.secret.hex()}"\n'
        f"active = {str(k.active).lower()}\n\n"
        for k in keys
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover temporary file keeps its mode otherwise
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def new_key(key_id: int, active: bool = False) -> Key:
    """A fresh random key."""
    return Key(key_id, secrets.token_bytes(KEY_LEN), active)
