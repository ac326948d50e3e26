"""The bundle file: an uncompressed tar holding a signed manifest (manifest.json, and its Ed25519
signature in manifest.sig) and the files the manifest lists with their SHA-256s. Written the same
way every time (sorted members, one timestamp, owner 0, fixed modes), so a rebuild is bit for bit;
read back only whole, verified, and for the machine it is meant for (docs/image.md)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from flight.security.keys import SigningKey

FORMAT = "payload-image/1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
MAX_BUNDLE = 512 << 20  # octets: a bundle is some tens of MB; anything far larger is not one
MAX_MEMBERS = 256


class BundleError(ValueError):
    """The bundle is refused; the message names what is wrong with it."""


@dataclass(frozen=True)
class Bundle:
    """A bundle whose signature, target and every file have been checked."""

    path: Path
    manifest: dict
    files: Mapping[str, bytes]

    @property
    def version(self) -> str:
        """The flight software version it carries."""
        return self.manifest["version"]

    @property
    def target(self) -> str:
        """The machine it is built for."""
        return self.manifest["target"]

    @property
    def manifest_sha256(self) -> str:
        """The SHA-256 of the signed manifest octets: names this bundle among builds of one
        version."""
        return hashlib.sha256(self.files[MANIFEST]).hexdigest()


def write_bundle(
    path: Path,
    files: Mapping[str, tuple[bytes, bool]],
    fields: Mapping[str, object],
    key: SigningKey,
    epoch: int,
) -> bytes:
    """Write the bundle: ``files`` (name: content, executable), a manifest of ``fields`` and
    their hashes, signed with ``key`` (its private half). Returns the manifest octets."""
    if key.private is None:
        raise BundleError(f"image key {key.key_id} has no private half: it cannot sign")
    listing = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, (data, _) in sorted(files.items())
    }
    manifest = {**fields, "format": FORMAT, "signer": key.key_id, "files": listing}
    octets = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    signature = Ed25519PrivateKey.from_private_bytes(key.private).sign(octets)
    members = {MANIFEST: (octets, False), SIGNATURE: (signature.hex().encode() + b"\n", False)}
    members |= dict(sorted(files.items()))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (data, executable) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), epoch
            info.mode = 0o755 if executable else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)
    return octets


def read_bundle(path: Path, trusted: Mapping[int, SigningKey], target: str) -> Bundle:
    """The bundle at ``path`` once its signature is from a ``trusted`` key, it is built for
    ``target``, and every file it lists is there, whole, and alone; BundleError naming each
    thing that is wrong otherwise."""
    members = _members(path)
    for name in (MANIFEST, SIGNATURE):
        if name not in members:
            raise BundleError(f"{path}: not a flight image bundle (no {name})")
    octets = members[MANIFEST]
    try:
        manifest = json.loads(octets)
        signer = manifest["signer"]
        signature = bytes.fromhex(members[SIGNATURE].decode().strip())
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{path}: unreadable manifest or signature ({exc})") from None
    key = trusted.get(signer) if isinstance(signer, int) else None
    if key is None:
        raise BundleError(f"{path}: signed by image key {signer!r}, which is not trusted here")
    try:
        Ed25519PublicKey.from_public_bytes(key.public).verify(signature, octets)
    except (InvalidSignature, ValueError):
        raise BundleError(
            f"{path}: bad signature: the manifest is not what image key {signer} signed"
        ) from None
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: format {manifest.get('format')!r}, not {FORMAT}")
    if manifest.get("target") != target:
        raise BundleError(
            f"{path}: built for {manifest.get('target')}, not for this machine ({target})"
        )
    listing = manifest.get("files")
    if not isinstance(listing, dict) or not all(
        isinstance(e, dict) and isinstance(e.get("size"), int) and isinstance(e.get("sha256"), str)
        for e in listing.values()
    ):
        raise BundleError(f"{path}: the manifest's file list is not a map of sizes and SHA-256s")
    problems = _file_problems(listing, members)
    if problems:
        raise BundleError(f"{path}: " + "; ".join(problems))
    return Bundle(path, manifest, members)


def _file_problems(listing: Mapping[str, dict], members: Mapping[str, bytes]) -> list[str]:
    """What is missing, changed or extra, one phrase each."""
    problems = []
    for name, entry in sorted(listing.items()):
        data = members.get(name)
        if data is None:
            problems.append(f"missing file {name}")
        elif len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            problems.append(f"changed file {name} (its SHA-256 is not the manifest's)")
    extra = sorted(set(members) - set(listing) - {MANIFEST, SIGNATURE})
    problems += [f"unexpected file {name} (not in the manifest)" for name in extra]
    return problems


def _members(path: Path) -> dict[str, bytes]:
    """The regular files of the tar by name; BundleError for anything else in it."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BundleError(f"{path}: {exc.strerror}") from None
    if size > MAX_BUNDLE:
        raise BundleError(f"{path}: {size} octets, more than a bundle may be ({MAX_BUNDLE})")
    members: dict[str, bytes] = {}
    held = 0  # octets read so far: never more than the file holds
    try:
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                name = _member_name(path, info)
                if name in members:
                    raise BundleError(f"{path}: {name} twice")
                if len(members) == MAX_MEMBERS:
                    raise BundleError(f"{path}: more than {MAX_MEMBERS} files")
                held += info.size
                if held > size:
                    raise BundleError(f"{path}: {name} claims more octets than the file holds")
                members[name] = tar.extractfile(info).read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleError(f"{path}: not a readable tar ({exc})") from None
    return members


def _member_name(path: Path, info: tarfile.TarInfo) -> str:
    name = PurePosixPath(info.name)
    if not info.isreg() or info.issparse():
        raise BundleError(f"{path}: {info.name} is not a plain file")
    if name.is_absolute() or ".." in name.parts or str(name) != info.name:
        raise BundleError(f"{path}: unsafe member name {info.name!r}")
    return info.name
