"""Telecommand authentication keys: a key file only its owner can read, holding numbered 256-bit
secrets and which of them are in use.

    # keys.toml (mode 0600)
    [[key]]
    id = 256
    source = "GROUND"   # the telecommand source it authenticates: GROUND or BUS
    secret = "64 hex digits"
    active = true

The same format on board (every key the spacecraft may be told to use, preloaded) and on the ground
or the bus (the keys each signs with). A key authenticates one source's telecommands only. Rotation
is by command on board (activate the next key, deactivate the old one); what is active on board
then lives in the controller's security state, not in this file."""

from __future__ import annotations

import secrets
import tomllib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flight.dictionary import SOURCE_BUS, SOURCE_GROUND, SOURCES
from flight.security.private_files import PrivateFileError, read_private, write_private

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
    source: int  # the telecommand source id it authenticates


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key pair that signs job manifests ([[job_key]]) or flight images
    ([[image_key]]): on board the public half only."""

    key_id: int
    public: bytes
    private: bytes | None = None


def load_keys(path: Path) -> dict[int, Key]:
    """The telecommand keys of a key file by id; KeyFileError if it is missing, readable by
    anyone but its owner, not ours, or malformed."""
    document = _document(path)
    keys: dict[int, Key] = {}
    for entry in document.get("key", []):
        key = _key(entry, path)
        if key.key_id in keys:
            raise KeyFileError(f"key file {path}: key {key.key_id} twice")
        keys[key.key_id] = key
    if not keys:
        raise KeyFileError(f"key file {path} holds no [[key]]")
    return keys


JOB_KEYS, IMAGE_KEYS = "job_key", "image_key"  # the key file's tables of signing keys


def load_job_keys(path: Path) -> dict[int, SigningKey]:
    """The job-signing keys ([[job_key]]) of a key file by id, perhaps none."""
    return load_signing_keys(path, JOB_KEYS)


def load_signing_keys(path: Path, table: str) -> dict[int, SigningKey]:
    """The Ed25519 keys of one table of a key file by id, perhaps none; KeyFileError as
    load_keys, or for a private half that does not match its public one."""
    keys: dict[int, SigningKey] = {}
    for entry in _document(path).get(table, []):
        key = _signing_key(entry, path, table)
        if key.key_id in keys:
            raise KeyFileError(f"key file {path}: {table} {key.key_id} twice")
        keys[key.key_id] = key
    return keys


def _document(path: Path) -> dict:
    """A key file's TOML, once its owner and mode are right."""
    try:
        return tomllib.loads(read_private(path, "key file"))
    except PrivateFileError as exc:
        raise KeyFileError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise KeyFileError(f"key file {path}: {exc}") from None


def _hex32(value: object, what: str, path: Path) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != KEY_LEN:
        raise KeyFileError(f"key file {path}: {what} is not {KEY_LEN * 2} hex digits")
    return raw


def _signing_key(entry: object, path: Path, table: str) -> SigningKey:
    if not isinstance(entry, dict):
        raise KeyFileError(f"key file {path}: a [[{table}]] is not a table")
    key_id = entry.get("id")
    if not isinstance(key_id, int) or not 0 <= key_id <= MAX_KEY_ID:
        raise KeyFileError(f"key file {path}: {table} id {key_id!r} is not 0..{MAX_KEY_ID}")
    public = _hex32(entry.get("public"), f"{table} {key_id}'s public", path)
    if "private" not in entry:
        return SigningKey(key_id, public)
    private = _hex32(entry.get("private"), f"{table} {key_id}'s private", path)
    derived = Ed25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
    if derived != public:
        raise KeyFileError(f"key file {path}: {table} {key_id}'s halves do not match")
    return SigningKey(key_id, public, private)


def _key(entry: object, path: Path) -> Key:
    if not isinstance(entry, dict):
        raise KeyFileError(f"key file {path}: a [[key]] is not a table")
    key_id, active = entry.get("id"), entry.get("active", False)
    source = {name: number for number, name in SOURCES.items()}.get(entry.get("source"))
    if not isinstance(key_id, int) or not 0 <= key_id <= MAX_KEY_ID:
        raise KeyFileError(f"key file {path}: key id {key_id!r} is not 0..{MAX_KEY_ID}")
    raw = _hex32(entry.get("secret"), f"key {key_id}'s secret", path)
    if not isinstance(active, bool):
        raise KeyFileError(f"key file {path}: key {key_id}'s active is not true or false")
    if source is None:
        raise KeyFileError(
            f"key file {path}: key {key_id}'s source is not one of {', '.join(SOURCES.values())}"
        )
    return Key(key_id, raw, active, source)


def write_keys(
    path: Path,
    keys: Sequence[Key],
    job_keys: Sequence[SigningKey] = (),
    image_keys: Sequence[SigningKey] = (),
) -> None:
    """Write a key file readable by its owner only (created with mode 0600, never wider)."""
    text = "".join(
        f'[[key]]\nid = {k.key_id}\nsource = "{SOURCES[k.source]}"\nsecret = "{k.secret.hex()}"\n'
        f"active = {str(k.active).lower()}\n\n"
        for k in keys
    ) + "".join(
        f'[[{table}]]\nid = {k.key_id}\npublic = "{k.public.hex()}"\n'
        + (f'private = "{k.private.hex()}"\n' if k.private is not None else "")
        + "\n"
        for table, signing in ((JOB_KEYS, job_keys), (IMAGE_KEYS, image_keys))
        for k in signing
    )
    write_private(path, text)


def new_key(key_id: int, source: int, active: bool = False) -> Key:
    """A fresh random key for one telecommand source."""
    return Key(key_id, secrets.token_bytes(KEY_LEN), active, source)


def new_signing_key(key_id: int) -> SigningKey:
    """A fresh Ed25519 key pair for signing job manifests or flight images."""
    private = Ed25519PrivateKey.generate()
    return SigningKey(key_id, private.public_key().public_bytes_raw(), private.private_bytes_raw())


class KeyFile:
    """A key file, read again whenever it changes on disk: the ground switches the key it signs
    with by rewriting its file (``python -m ground keys use``), without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._keys: dict[int, Key] = {}
        self._job_keys: dict[int, SigningKey] = {}

    def job_keys(self) -> dict[int, SigningKey]:
        """The job-signing keys as the file holds them now; KeyFileError if it became unusable."""
        self.keys()
        return self._job_keys

    def keys(self) -> dict[int, Key]:
        """The keys as the file holds them now; KeyFileError if it became unusable."""
        try:
            info = self.path.stat()
        except OSError as exc:
            raise KeyFileError(f"key file {self.path}: {exc.strerror}") from None
        stamp = (info.st_ctime_ns, info.st_size, info.st_ino)  # ctime: chmod too
        if stamp != self._stamp:
            self._keys = load_keys(self.path)
            self._job_keys = load_job_keys(self.path)
            self._stamp = stamp
        return self._keys


def use_key(path: Path, key_id: int) -> Key:
    """Mark one key of a file in use and the others of its source not; the key."""
    keys = load_keys(path)
    if key_id not in keys:
        raise KeyFileError(f"key file {path} holds no key {key_id}")
    source = keys[key_id].source
    changed = [
        replace(k, active=k.key_id == key_id) if k.source == source else k for k in keys.values()
    ]
    write_keys(
        path,
        changed,
        list(load_job_keys(path).values()),
        list(load_signing_keys(path, IMAGE_KEYS).values()),
    )
    return keys[key_id]


BUS_KEY_ID = 1
GROUND_KEY_IDS = (256, 257)  # in use, and the spare the ground rotates to (more: 258, ...)
GROUND_KEY_LIMIT = 64  # ground keys one provisioning preloads at most
KEY_FILE_NAMES = ("flight.toml", "bus.toml", "ground.toml", "image.toml")  # a set, in a directory
JOB_KEY_ID = 1
IMAGE_KEY_ID = 1


@dataclass(frozen=True)
class KeySet:
    """Matched key files: the controller's (every key), the bus's, the ground's, and the
    flight-image signer's (release engineering: docs/image.md)."""

    flight: Path
    bus: Path
    ground: Path
    image: Path

    @classmethod
    def in_dir(cls, directory: Path) -> KeySet:
        """The files of a set in a directory: flight.toml, bus.toml, ground.toml, image.toml."""
        return cls(*(directory / name for name in KEY_FILE_NAMES))

    @property
    def paths(self) -> tuple[Path, Path, Path, Path]:
        """The four files."""
        return (self.flight, self.bus, self.ground, self.image)


def provision_keys(
    directory: Path, *, ground_keys: int = 2, replace_files: Collection[str] = ()
) -> KeySet:
    """Fresh keys for one payload, each file 0600: a bus key, a ground key in use and spares to
    rotate to (``ground_keys`` in all), a job-signing key pair (its public half on board, both
    halves on the ground) and an image-signing key pair (its public half on board, both halves in
    image.toml). KeyFileError, before anything is written, if a file of the set exists and is not
    named in ``replace_files`` (by its name: flight.toml, bus.toml, ground.toml, image.toml):
    replacing a provisioned payload's keys loses command of it."""
    files = KeySet.in_dir(directory)
    names = {path.name for path in files.paths}
    unknown = sorted(set(replace_files) - names)
    if unknown:
        raise KeyFileError(f"--force names {', '.join(unknown)}: not one of {sorted(names)}")
    kept = [p.name for p in files.paths if p.exists() and p.name not in replace_files]
    if kept:
        raise KeyFileError(
            f"{directory} already holds {', '.join(kept)}: a provisioned payload's keys are not "
            "replaced (its ground would lose command of it); rotate keys in flight "
            "(ground keys rotate), or replace these files on purpose: "
            f"--force {' '.join(kept)}"
        )
    if not 1 <= ground_keys <= GROUND_KEY_LIMIT:
        raise KeyFileError(f"ground keys: {ground_keys}, not 1..{GROUND_KEY_LIMIT}")
    bus = new_key(BUS_KEY_ID, SOURCE_BUS, active=True)
    ground = [new_key(GROUND_KEY_IDS[0] + n, SOURCE_GROUND, n == 0) for n in range(ground_keys)]
    job, image = new_signing_key(JOB_KEY_ID), new_signing_key(IMAGE_KEY_ID)
    write_keys(
        files.flight, [bus, *ground], [replace(job, private=None)], [replace(image, private=None)]
    )
    write_keys(files.bus, [bus])
    write_keys(files.ground, ground, [job])
    write_keys(files.image, [], image_keys=[image])
    return files
