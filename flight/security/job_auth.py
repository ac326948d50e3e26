"""Signed job manifests: the controller runs only jobs whose manifest carries an Ed25519
signature (RFC 8032) by a key it trusts.

The signature travels in the manifest itself, under the key ``signature``:

    {"key": job key id (int), "ed25519": 64 octets (bin)}

and signs the manifest's other keys as one msgpack map, encoded as ``msgpack.packb(...,
use_bin_type=True)`` encodes it: in the map's order, each value in its shortest form, floats
as float64. The controller decodes the manifest, takes the signature out, encodes the rest that
way and verifies; a manifest that an encoder wrote in another form is refused, never guessed at.
"""

from __future__ import annotations

from typing import Any

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from flight.dictionary import FailureCode
from flight.jobs.manifest import ManifestError
from flight.security.keys import SigningKey

SIGNATURE = "signature"
SIGNATURE_LEN = 64


def signed_octets(manifest: dict[str, Any]) -> bytes:
    """The octets a manifest's signature covers: every key but the signature, packed."""
    return msgpack.packb({k: v for k, v in manifest.items() if k != SIGNATURE}, use_bin_type=True)


def sign_manifest(manifest: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """The manifest with its signature by ``key`` (whose private half is needed)."""
    if key.private is None:
        raise ValueError(f"job key {key.key_id} has no private half here: it cannot sign")
    private = Ed25519PrivateKey.from_private_bytes(key.private)
    signature = private.sign(signed_octets(manifest))
    return manifest | {SIGNATURE: {"key": key.key_id, "ed25519": signature}}


def check_signature(manifest: Any, trusted: dict[int, SigningKey]) -> int:
    """The id of the trusted key that signed the manifest; ManifestError (MANIFEST_UNSIGNED,
    MANIFEST_SIGNER_UNKNOWN, MANIFEST_SIGNATURE_BAD) otherwise."""
    if not isinstance(manifest, dict):
        raise ManifestError(f"manifest must be a map, not {type(manifest).__name__}")
    if SIGNATURE not in manifest:
        raise ManifestError("no signature", FailureCode.MANIFEST_UNSIGNED)
    signature = manifest[SIGNATURE]
    if (
        not isinstance(signature, dict)
        or set(signature) != {"key", "ed25519"}
        or not isinstance(signature["key"], int)
        or not isinstance(signature["ed25519"], bytes)
        or len(signature["ed25519"]) != SIGNATURE_LEN
    ):
        raise ManifestError(
            "signature: a map of key (int) and ed25519 (64 octets)", FailureCode.MANIFEST_UNSIGNED
        )
    key = trusted.get(signature["key"])
    if key is None:
        raise ManifestError(
            f"signature: job key {signature['key']} is not trusted on board",
            FailureCode.MANIFEST_SIGNER_UNKNOWN,
        )
    try:
        Ed25519PublicKey.from_public_bytes(key.public).verify(
            signature["ed25519"], signed_octets(manifest)
        )
    except InvalidSignature:
        raise ManifestError(
            f"signature: does not verify under job key {key.key_id}",
            FailureCode.MANIFEST_SIGNATURE_BAD,
        ) from None
    return key.key_id
