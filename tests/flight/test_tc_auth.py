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
from flight.protocol.packets import MAX_PACKET_LEN
from flight.security.keys import (
    Key,
    KeyFile,
    KeyFileError,
    load_keys,
    new_key,
    provision_keys,
    use_key,
    write_keys,
)
from flight.security.replay import RESERVE, SLOT_LEN, SecurityState, SecurityStateError
from flight.security.tc_auth import MAC_LEN, TRAILER_LEN, AuthError, TcSigner, TcVerifier, sign

G = d.SOURCE_GROUND
KEY = Key(7, bytes(range(32)), True, G)
SPARE = Key(8, bytes(range(32, 64)), False, G)


def tc(app_data=b"\x01\x02", service=17, subtype=1, seq_count=5):
    return build_tc(d.APID_PAYLOAD, seq_count, service, subtype, app_data, source_id=G, ack_flags=9)


@pytest.fixture
def verifier(tmp_path):
    state = SecurityState(tmp_path / "security.state")
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
    path = tmp_path / "security.state"
    state = SecurityState(path)
    verifier = TcVerifier({7: KEY}, state)
    assert verifier.check(sign(tc(), KEY, 1)).seq == 1
    assert verifier.check(sign(tc(), KEY, 1000)).seq == 1000
    with pytest.raises(AuthError) as caught:
        verifier.check(sign(tc(), KEY, 999))
    assert caught.value.reason == "replay"
    state.close()
    restarted = TcVerifier({7: KEY}, SecurityState(path))
    floor = 1 + RESERVE  # the window reserved with the first number: the rest of it is skipped
    assert restarted.floors() == [("SEQUENCE_FLOOR", {"key_id": 7, "floor": floor})]
    for seq in (1000, 1, 1001, floor):
        with pytest.raises(AuthError, match=f"not above {floor}"):
            restarted.check(sign(tc(), KEY, seq))
    assert restarted.check(sign(tc(), KEY, floor + 1)).seq == floor + 1
    assert restarted.check(sign(tc(), KEY, 2**64 - 1)).seq == 2**64 - 1  # the whole u64 range
    restarted.state.close()
    assert SecurityState(path).last_seq(7) == 2**64 - 1


def test_numbers_within_the_reserved_window_cost_no_write(tmp_path):
    """A day of ticks a second apart (microsecond sequence numbers): one write per 2^32, where
    one per command was needed before (reserve=0 keeps that behaviour, for comparison)."""
    day = [1_767_225_600_000_000 + i * 1_000_000 for i in range(86_400)]
    writes = {}
    for reserve in (0, RESERVE):
        state = SecurityState(tmp_path / f"state-{reserve}", reserve=reserve)
        before = state.writes
        for seq in day:
            state.accept(1, seq)
        writes[reserve] = state.writes - before
        state.close()
    assert writes[0] == 86_400
    assert writes[RESERVE] == -(-(day[-1] - day[0] + 1) // (RESERVE + 1)) == 21


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.one_of(st.integers(1, 2**40), st.just("restart"), st.just("power cut")), max_size=60
    ),
    reserve=st.sampled_from([0, 1, 1000, RESERVE]),
)
def test_no_number_is_accepted_twice_across_restarts_and_power_cuts(
    tmp_path_factory, steps, reserve
):
    """Whatever the order of numbers, restarts and power cuts (the state dropped unclosed): a
    number is accepted only above every number accepted before, under any reserve."""
    path = tmp_path_factory.mktemp("replay") / "security.state"
    verifier = TcVerifier({7: KEY}, SecurityState(path, reserve=reserve))
    accepted: list[int] = []
    for step in steps:
        if isinstance(step, str):
            if step == "restart":
                verifier.state.close()
            verifier = TcVerifier({7: KEY}, SecurityState(path, reserve=reserve))
            continue
        try:
            verifier.check(sign(tc(), KEY, step))
        except AuthError as exc:
            assert exc.reason == "replay"
            assert accepted and step <= verifier.state.last_seq(7)
            continue
        assert all(step > seen for seen in accepted), f"{step} accepted after {accepted}"
        accepted.append(step)
    verifier.state.close()


def test_the_checks_come_in_order_key_then_mac_then_replay(verifier):
    forged_key = Key(9, KEY.secret, True, G)
    with pytest.raises(AuthError) as caught:
        verifier.check(sign(tc(), forged_key, 1))
    assert caught.value.reason == "unknown_key"
    with pytest.raises(AuthError) as caught:
        verifier.check(sign(tc(), Key(7, bytes(32), True, G), 1))
    assert caught.value.reason == "bad_mac"
    assert verifier.state.last_seq(7) == -1  # a forgery moves nothing
    with pytest.raises(AuthError) as caught:
        verifier.check(tc())  # no trailer: what is there does not verify
    assert caught.value.reason in ("missing", "unknown_key", "bad_mac")


def test_keys_rotate_and_the_rotation_survives_a_restart(tmp_path, verifier):
    with pytest.raises(AuthError, match="not a key in use"):
        verifier.check(sign(tc(), SPARE, 1))
    verifier.set_active(8, True)
    verifier.set_active(7, False)
    assert verifier.check(sign(tc(), SPARE, 1)).key_id == 8
    with pytest.raises(AuthError, match="key 7 is not a key in use"):
        verifier.check(sign(tc(), KEY, 5))
    restarted = TcVerifier({7: KEY, 8: SPARE}, SecurityState(tmp_path / "security.state"))
    assert restarted.in_use(8) and not restarted.in_use(7)
    with pytest.raises(KeyError):
        verifier.set_active(99, True)


def test_a_key_authenticates_its_own_source_only(tmp_path):
    bus_key = Key(1, bytes(range(1, 33)), True, d.SOURCE_BUS)
    state = SecurityState(tmp_path / "security.state")
    verifier = TcVerifier({1: bus_key, 7: KEY}, state)
    with pytest.raises(AuthError, match="key 1 is not a key in use for GROUND") as caught:
        verifier.check(sign(tc(), bus_key, 1))  # a ground command under the bus's key
    assert caught.value.reason == "unknown_key"
    bus_tc = build_tc(d.APID_PAYLOAD, 0, 200, 1, source_id=d.SOURCE_BUS, ack_flags=0)
    assert verifier.check(sign(bus_tc, bus_key, 1)).key_id == 1
    with pytest.raises(AuthError, match="not a key in use for BUS"):
        verifier.check(sign(bus_tc, KEY, 2))
    assert verifier.last_in_use(1) and verifier.last_in_use(7)
    state.close()


def test_the_last_key_in_use_for_a_source_is_known(verifier):
    assert verifier.last_in_use(7) and not verifier.last_in_use(8)
    verifier.set_active(8, True)
    assert not verifier.last_in_use(7) and not verifier.last_in_use(8)


def test_the_signer_numbers_above_the_last_whatever_its_clock_does():
    now = [5_000]
    signer = TcSigner(lambda: {7: KEY, 8: SPARE}, G, clock=lambda: now[0])
    seqs = []
    for step in (0, 0, -4_000, 10_000):  # the clock stands, goes back, jumps ahead
        now[0] += step
        seqs.append(parse_packet(signer.sign(tc())).app_data[-TRAILER_LEN + 2 : -MAC_LEN])
    numbers = [int.from_bytes(s, "big") for s in seqs]
    assert numbers == [5_000, 5_001, 5_002, 11_000]


def test_the_signer_continues_above_a_floor_the_receiver_reports():
    now = [5_000]
    signer = TcSigner(lambda: {7: KEY, 8: SPARE, 1: Key(1, bytes(32), True, d.SOURCE_BUS)}, G,
                      clock=lambda: now[0])  # fmt: skip
    signer.heard_floor(7, 9_000_000)
    signer.heard_floor(1, 2**60)  # another source's key: not this signer's
    signer.heard_floor(99, 2**60)  # a key it does not have
    signer.heard_floor(7, 2**64 - 2)  # beyond anything the receiver could reserve: forged
    seq = parse_packet(signer.sign(tc())).app_data[-TRAILER_LEN + 2 : -MAC_LEN]
    assert int.from_bytes(seq, "big") == 9_000_001


def test_the_signer_needs_one_key_in_use_and_a_packet_that_fits():
    with pytest.raises(
        ValueError, match=r"exactly one key in use for GROUND \(marked active: none\)"
    ):
        TcSigner(lambda: {8: SPARE}, G).sign(tc())
    both = {7: KEY, 8: Key(8, SPARE.secret, True, G)}
    with pytest.raises(ValueError, match="marked active: 7, 8"):
        TcSigner(lambda: both, G).sign(tc())
    signer = TcSigner(lambda: {7: KEY}, G)
    room = MAX_PACKET_LEN - len(tc(b"")) - TRAILER_LEN
    assert len(signer.sign(tc(bytes(room)))) == MAX_PACKET_LEN
    last = signer.last
    with pytest.raises(ValueError, match="exceeds the 4096-octet MTU"):
        signer.sign(tc(bytes(room + 1)))
    assert signer.last == last  # nothing signed, no number used


def test_provisioned_files_match_and_the_ground_switches_keys_without_a_restart(tmp_path):
    files = provision_keys(tmp_path / "keys")
    for path in (files.flight, files.bus, files.ground, files.image):
        assert os.stat(path).st_mode & 0o777 == 0o600
    on_board = load_keys(files.flight)
    assert set(on_board) == set(load_keys(files.bus)) | set(load_keys(files.ground))
    state = SecurityState(tmp_path / "security.state")
    verifier = TcVerifier(on_board, state)
    ground = TcSigner(KeyFile(files.ground).keys, G)
    assert verifier.check(ground.sign(tc())).key_id == 256
    verifier.set_active(257, True)  # KEY_ACTIVATE on board, then the ground switches
    assert use_key(files.ground, 257).key_id == 257
    assert verifier.check(ground.sign(tc())).key_id == 257
    assert [k.active for k in load_keys(files.ground).values()] == [False, True]
    with pytest.raises(KeyFileError, match="holds no key 9"):
        use_key(files.ground, 9)
    state.close()


def test_the_key_file_must_be_its_owners_alone(tmp_path):
    path = tmp_path / "keys.toml"
    keys = [new_key(1, G, active=True), new_key(2, d.SOURCE_BUS)]
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
        ("[[key]]\nid = 1\nsecret = '" + "ab" * 32 + "'\nsource = 'MOON'\n", "source is not one"),
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
    state = SecurityState(tmp_path_factory.mktemp("auth") / "security.state")
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
        bad = sign(tc(app_data, service, 1), Key(KEY.key_id, os.urandom(32), True, G), seq + 1)
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


def test_a_torn_write_leaves_the_copy_before_it(tmp_path):
    path = tmp_path / "security.state"
    state = SecurityState(path, reserve=0)  # a write for every number
    state.accept(7, 10)
    state.accept(7, 20)  # generation 3, in slot 1; generation 2 (seq 10) in slot 0
    state.set_active(8, True)  # generation 4, in slot 0
    state.close()
    with open(path, "r+b") as f:  # power lost halfway through writing generation 4
        f.seek(100)
        f.write(b"\xff" * 50)
    again = SecurityState(path, reserve=0)
    assert (again.last_seq(7), again.active(8)) == (20, None)
    again.close()
    with open(path, "r+b") as f:
        f.seek(SLOT_LEN + 3000)
        f.write(b"\x01")
    with pytest.raises(SecurityStateError, match="both copies damaged"):
        SecurityState(path)
    path.write_bytes(b"short")
    with pytest.raises(SecurityStateError, match="5 octets"):
        SecurityState(path)


def test_the_state_is_written_in_place_so_a_full_disk_does_not_stop_it(small_disk):
    state = SecurityState(small_disk / "security.state", reserve=0)
    filler = small_disk / "filler"
    with open(filler, "wb") as f, pytest.raises(OSError):
        while True:
            f.write(bytes(65536))
            f.flush()
    for seq in range(1, 200):
        state.accept(7 + seq % 3, seq)
    state.set_active(8, False)
    state.close()
    again = SecurityState(small_disk / "security.state")
    assert [again.last_seq(k) for k in (7, 8, 9)] == [198, 199, 197]
    assert again.active(8) is False
    again.close()
