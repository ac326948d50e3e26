"""Telecommand authentication: the trailer, the checks in their order, the anti-replay state
across restarts, key rotation, the key file's permissions; and the property that every forged,
tampered or replayed telecommand is refused (10 000 cases)."""

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.ecss.tc import PusTc

import native
from flight import dictionary as d
from flight.protocol.packets import build_tc, parse_packet
from flight.security.keys import Key, KeyFileError, load_keys, new_key, write_keys
from flight.security.replay import SecurityState
from flight.security.tc_auth import MAC_LEN, TRAILER_LEN, AuthError, TcVerifier, sign

KEY = Key(7, bytes(range(32)), True)
SPARE = Key(8, bytes(range(32, 64)), False)


def tc(app_data=b"\x01\x02", service=17, subtype=1, seq_count=5):
    return build_tc(
        d.APID_PAYLOAD, seq_count, service, subtype, app_data, source_id=0x100, ack_flags=9
    )


@pytest.fixture
def verifier(tmp_path):
    state = SecurityState(tmp_path / "security.sqlite")
    yield TcVerifier({KEY.key_id: KEY, SPARE.key_id: SPARE}, state)
    state.close()


def test_a_signed_telecommand_is_a_valid_packet_with_the_trailer_last():
    plain = tc()
    signed = sign(plain, KEY, 42)
    parsed = parse_packet(signed)  # length and packet error control agree
    assert parsed.app_data[:-TRAILER_LEN] == b"\x01\x02"
    assert parsed.app_data[-TRAILER_LEN:-MAC_LEN] == (7).to_bytes(2, "big") + (42).to_bytes(
        8, "big"
    )
    peer = PusTc.unpack(signed)  # spacepackets sees the trailer as application data
    assert (peer.service, peer.message_subtype) == (17, 1)
    assert peer.app_data == parsed.app_data


def test_genuine_accepted_then_replay_refused_even_after_a_restart(tmp_path):
    path = tmp_path / "security.sqlite"
    state = SecurityState(path)
    verifier = TcVerifier({7: KEY}, state)
    assert verifier.check(sign(tc(), KEY, 1)).seq == 1
    assert verifier.check(sign(tc(), KEY, 1000)).seq == 1000
    with pytest.raises(AuthError) as caught:
        verifier.check(sign(tc(), KEY, 999))
    assert caught.value.reason == "replay"
    state.close()
    restarted = TcVerifier({7: KEY}, SecurityState(path))
    for seq in (1000, 1):
        with pytest.raises(AuthError, match="not above 1000"):
            restarted.check(sign(tc(), KEY, seq))
    assert restarted.check(sign(tc(), KEY, 2**64 - 1)).seq == 2**64 - 1  # the whole u64 range
    restarted.state.close()
    assert SecurityState(path).last_seq(7) == 2**64 - 1


def test_the_checks_come_in_order_key_then_mac_then_replay(verifier):
    forged_key = Key(9, KEY.secret, True)
    with pytest.raises(AuthError) as caught:
        verifier.check(sign(tc(), forged_key, 1))
    assert caught.value.reason == "unknown_key"
    with pytest.raises(AuthError) as caught:
        verifier.check(sign(tc(), Key(7, bytes(32), True), 1))
    assert caught.value.reason == "bad_mac"
    assert verifier.state.last_seq(7) == -1  # a forgery moves nothing
    with pytest.raises(AuthError) as caught:
        verifier.check(tc())  # no trailer: what is there does not verify
    assert caught.value.reason in ("no_trailer", "unknown_key", "bad_mac")


def test_keys_rotate_and_the_rotation_survives_a_restart(tmp_path, verifier):
    with pytest.raises(AuthError, match="not a key in use"):
        verifier.check(sign(tc(), SPARE, 1))
    verifier.set_active(8, True)
    verifier.set_active(7, False)
    assert verifier.check(sign(tc(), SPARE, 1)).key_id == 8
    with pytest.raises(AuthError, match="key 7 is not a key in use"):
        verifier.check(sign(tc(), KEY, 5))
    restarted = TcVerifier({7: KEY, 8: SPARE}, SecurityState(tmp_path / "security.sqlite"))
    assert restarted.in_use(8) and not restarted.in_use(7)
    with pytest.raises(KeyError):
        verifier.set_active(99, True)


def test_the_key_file_must_be_its_owners_alone(tmp_path):
    path = tmp_path / "keys.toml"
    keys = [new_key(1, active=True), new_key(2)]
    write_keys(path, keys)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_keys(path) == {k.key_id: k for k in keys}
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match=r"open to others \(mode 0640\): chmod 600"):
        load_keys(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "holds no [[key]]"),
        ('[[key]]\nid = 1\nsecret = "00"\n', "secret is not 64 hex digits"),
        ('[[key]]\nid = 70000\nsecret = "00"\n', "key id 70000"),
        ("[[key]]\nid = 1\nsecret = '" + "ab" * 32 + "'\nactive = 'yes'\n", "active is not"),
        ("[[key]\n", "key file"),
    ],
)
def test_bad_key_files_say_why(tmp_path, text, message):
    path = tmp_path / "keys.toml"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match=message.replace("[", r"\[")):
        load_keys(path)


def test_a_missing_key_file_says_so(tmp_path):
    with pytest.raises(KeyFileError, match="No such file"):
        load_keys(tmp_path / "none.toml")


_SEQ = itertools.count(1)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    state = SecurityState(tmp_path_factory.mktemp("auth") / "security.sqlite")
    yield TcVerifier({KEY.key_id: KEY}, state)
    state.close()


@settings(max_examples=10_000, deadline=None)
@given(
    app_data=st.binary(max_size=64),
    service=st.integers(0, 255),
    attack=st.sampled_from(["forged", "tampered", "replayed", "old"]),
    where=st.integers(0, 10_000),
    bit=st.integers(0, 7),
)
def test_forged_tampered_and_replayed_telecommands_are_all_refused(
    shared, app_data, service, attack, where, bit
):
    """Every case: the genuine packet is accepted, the attack on it refused."""
    seq = next(_SEQ) * 2
    genuine = sign(tc(app_data, service, 1), KEY, seq)
    if attack == "forged":  # right key id, wrong secret
        bad = sign(tc(app_data, service, 1), Key(KEY.key_id, os.urandom(32), True), seq + 1)
    elif attack == "tampered":  # one bit of the authenticated octets or the MAC flipped
        data = bytearray(genuine[:-2])
        data[where % len(data)] ^= 1 << bit
        bad = sign_crc(bytes(data))
    elif attack == "replayed":
        bad = genuine
    else:  # an older sequence number, correctly signed
        bad = sign(tc(app_data, service, 1), KEY, seq - 1)
    assert shared.check(genuine).seq == seq
    with pytest.raises(AuthError):
        shared.check(bad)


def sign_crc(head: bytes) -> bytes:
    """A packet with a correct packet error control (a tamperer recomputes it)."""
    return head + native.crc16(head).to_bytes(2, "big")
