"""Signed job manifests: Ed25519 signatures made and checked, every change to a signed manifest
refused (property test), and the real controller running only jobs signed by a key it trusts."""

import os

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight import dictionary as d
from flight.jobs.manifest import ManifestError
from flight.security.job_auth import check_signature, sign_manifest, signed_octets
from flight.security.keys import (
    KeyFileError,
    load_job_keys,
    new_signing_key,
    provision_keys,
    use_key,
)
from tests.flight.conftest import JOB_KEY, TRUSTED_JOB_KEYS
from tests.flight.test_controller_commands import failure

F = d.FailureCode
GOOD = {"id": "j1", "command": ["ok"], "priority": 5}


def code_of(manifest, trusted=TRUSTED_JOB_KEYS):
    with pytest.raises(ManifestError) as caught:
        check_signature(manifest, trusted)
    return caught.value.code, str(caught.value)


def test_a_signed_manifest_verifies_and_names_its_key():
    signed = sign_manifest(GOOD, JOB_KEY)
    assert check_signature(signed, TRUSTED_JOB_KEYS) == JOB_KEY.key_id
    assert signed_octets(signed) == msgpack.packb(GOOD, use_bin_type=True)
    assert len(signed["signature"]["ed25519"]) == 64


def test_unsigned_untrusted_tampered_and_malformed_are_refused():
    signed = sign_manifest(GOOD, JOB_KEY)
    stranger = sign_manifest(GOOD, new_signing_key(9))
    impostor = sign_manifest(GOOD, new_signing_key(JOB_KEY.key_id))
    assert code_of(GOOD)[0] is F.MANIFEST_UNSIGNED
    assert code_of([1, 2]) == (F.MANIFEST_INVALID, "manifest must be a map, not list")
    assert code_of(stranger) == (
        F.MANIFEST_SIGNER_UNKNOWN,
        "signature: job key 9 is not trusted on board",
    )
    assert code_of(impostor)[0] is F.MANIFEST_SIGNATURE_BAD
    assert code_of(signed | {"priority": 200})[0] is F.MANIFEST_SIGNATURE_BAD
    assert code_of(dict(reversed(signed.items())))[0] is F.MANIFEST_SIGNATURE_BAD  # order counts
    for bad in ("x", {"key": 1}, {"key": "1", "ed25519": bytes(64)}, {"key": 1, "ed25519": b"s"}):
        assert code_of(GOOD | {"signature": bad})[0] is F.MANIFEST_UNSIGNED
    with pytest.raises(ValueError, match="no private half"):
        sign_manifest(GOOD, TRUSTED_JOB_KEYS[JOB_KEY.key_id])


_VALUES = st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=20), st.booleans())


@settings(max_examples=2_000, deadline=None)
@given(
    manifest=st.dictionaries(st.text(min_size=1, max_size=10), _VALUES, max_size=8),
    where=st.integers(0, 10_000),
    bit=st.integers(0, 7),
)
def test_any_change_to_a_signed_manifest_is_refused(manifest, where, bit):
    signed = sign_manifest(manifest, JOB_KEY)
    assert check_signature(signed, TRUSTED_JOB_KEYS) == JOB_KEY.key_id
    octets = bytearray(msgpack.packb(signed, use_bin_type=True))
    octets[where % len(octets)] ^= 1 << bit
    try:
        changed = msgpack.unpackb(bytes(octets), raw=False, strict_map_key=False)
    except Exception:
        return  # no longer a document: refused as BAD_ARGUMENTS before this check
    if changed == signed:
        return  # the flip landed where msgpack does not look
    with pytest.raises(ManifestError):
        check_signature(changed, TRUSTED_JOB_KEYS)


def test_job_keys_in_key_files(tmp_path):
    files = provision_keys(tmp_path / "keys")
    on_board, ground = load_job_keys(files.flight), load_job_keys(files.ground)
    assert [k.private for k in on_board.values()] == [None]
    assert [k.public for k in on_board.values()] == [k.public for k in ground.values()]
    use_key(files.ground, 257)
    assert load_job_keys(files.ground) == ground  # switching keys keeps the job key
    text = files.ground.read_text()
    private = next(iter(ground.values())).private.hex()
    files.ground.write_text(text.replace(private, os.urandom(32).hex()))
    with pytest.raises(KeyFileError, match="halves do not match"):
        load_job_keys(files.ground)


def test_the_controller_runs_only_jobs_signed_by_a_key_it_trusts(payload):
    payload.install_job("ok", "exit 0\n")
    stranger = sign_manifest(GOOD | {"id": "j2"}, new_signing_key(9))
    tampered = sign_manifest(GOOD | {"id": "j3"}, JOB_KEY) | {"command": ["rm"]}
    for manifest, code in [
        (GOOD, F.MANIFEST_UNSIGNED),
        (stranger, F.MANIFEST_SIGNER_UNKNOWN),
        (tampered, F.MANIFEST_SIGNATURE_BAD),
    ]:
        packet = payload.signed(140, 1, msgpack.packb(manifest, use_bin_type=True))
        assert failure(payload.send(packet))[0] is code
    assert payload.ctl.runner.jobs == {}
    assert payload.ctl.counters.manifests_rejected == 3
    tms = payload.command("SUBMIT_JOB", {"manifest": GOOD})  # signed by the harness's ground
    assert [t.name for t in tms] == ["ACCEPTANCE_SUCCESS", "JOB_QUEUED", "COMPLETION_SUCCESS"]
