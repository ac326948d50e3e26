"""Authentication on the wire: the real controller over a real pty refuses unsigned, forged,
replayed and wrongly keyed telecommands, each with its own PUS 1 failure code and counter, keeps
its anti-replay window across a restart, and rotates keys by command."""

import subprocess
import sys
from dataclasses import replace

from flight import dictionary as d
from flight.protocol.messages import encode_command
from flight.protocol.packets import build_tc
from flight.security.keys import BUS_KEY_ID, GROUND_KEY_IDS, new_key, provision_keys
from flight.security.tc_auth import TcSigner, sign
from tests.flight.conftest import TEST_KEYS, bus_tick_args
from tests.flight.test_controller_commands import failure

F = d.FailureCode
IN_USE, SPARE = GROUND_KEY_IDS


def plain(payload, name="NOOP", source=d.SOURCE_GROUND):
    """A telecommand with no trailer."""
    command, data = encode_command(name)
    payload.seq += 1
    return build_tc(
        d.APID_PAYLOAD,
        payload.seq,
        command.service,
        command.subtype,
        data,
        source_id=source,
        ack_flags=d.ACK_GROUND_DEFAULT,
    )


def signed_with(key_id):
    """A signer using one test key (as a sender that switched to it)."""
    key = replace(TEST_KEYS[key_id], active=True)
    return TcSigner(lambda: {key_id: key}, key.source)


def hk(payload):
    return [t for t in payload.tick() if t.name == "HOUSEKEEPING"][0].values


def test_each_refusal_has_its_code_and_counter_and_changes_nothing(payload):
    payload.tick()
    genuine = payload.tc("NOOP")
    genuine_seq = payload.signers[d.SOURCE_GROUND].last
    assert [t.name for t in payload.send(genuine)][-1] == "COMPLETION_SUCCESS"
    forged = sign(plain(payload), new_key(IN_USE, d.SOURCE_GROUND), 2**63)
    bus_keyed = signed_with(BUS_KEY_ID).sign(plain(payload))  # a ground command, the bus's key
    bad_crc = bytearray(payload.tc("NOOP"))
    bad_crc[-1] ^= 1
    cases = [
        (plain(payload), F.AUTH_MISSING, "too short"),
        (bytes(bad_crc), None, None),  # refused before authentication, as before
        (sign(plain(payload), new_key(999, d.SOURCE_GROUND), 1), F.AUTH_UNKNOWN_KEY, "key 999"),
        (bus_keyed, F.AUTH_UNKNOWN_KEY, "key 1 is not a key in use for GROUND"),
        (forged, F.AUTH_BAD_MAC, "does not verify under key 256"),
        (genuine, F.AUTH_REPLAY, "not above"),
    ]
    for packet, code, words in cases:
        tms = payload.send(packet)
        if code is None:
            assert failure(tms)[0] is F.BAD_CHECKSUM
            continue
        got, reason = failure(tms)
        assert got is code and words in reason, (got, reason)
        assert (
            tms[0].values["request_seq_ctrl"] & 0x3FFF
            == int.from_bytes(packet[2:4], "big") & 0x3FFF
        )
    values = hk(payload)
    assert [values[f"tc_auth_{r}"] for r in ("missing", "unknown_key", "bad_mac", "replay")] == [
        1,
        2,
        1,
        1,
    ]
    assert (values["tc_accepted"], values["tc_rejected"], values["packets_bad_crc"]) == (1, 5, 1)
    assert payload.ctl.auth.state.last_seq(IN_USE) == genuine_seq  # no refusal moved it


def test_the_window_survives_a_restart_and_a_replayed_tick_is_refused(payload):
    tick = payload.tc("BUS_TICK", bus_tick_args(payload.time + 1), source=d.SOURCE_BUS, ack=0)
    assert [t.name for t in payload.send(tick)] == ["TIME_SYNCHRONISED", "HOUSEKEEPING"]
    payload.restart()
    code, reason = failure(payload.send(tick))
    assert code is F.AUTH_REPLAY and "key 1" in reason
    assert payload.ctl.counters.tc_auth_replay == 1


def test_a_sender_that_missed_the_floor_is_told_it_again_and_catches_up(payload):
    """The SEQUENCE_FLOOR of a start lost on the line (found on the flight computer VM): the
    bus's ticks, genuine but below the floor, are refused as replays; the refusal tells the
    floor again (once a second per key, not per refusal), and the bus, hearing it, ticks above
    it and is accepted."""
    payload.tick()
    bus = payload.signers[d.SOURCE_BUS]
    before = bus.last
    payload.restart()  # the new run reserved a window: its floor is above the bus's clock
    bus.last = before  # its SEQUENCE_FLOOR lost on the line: the bus never heard it
    floor = payload.ctl.auth.state.last_seq(BUS_KEY_ID)
    assert floor > bus.clock() + 1
    tick = payload.tc("BUS_TICK", bus_tick_args(payload.time + 1), source=d.SOURCE_BUS, ack=0)
    refused = payload.send(tick)
    assert failure(refused)[0] is F.AUTH_REPLAY
    told = [t.values for t in refused if t.name == "SEQUENCE_FLOOR"]
    assert told == [{"key_id": BUS_KEY_ID, "floor": floor}]
    again = payload.tc("BUS_TICK", bus_tick_args(payload.time + 1), source=d.SOURCE_BUS, ack=0)
    assert [t.name for t in payload.send(again)] == ["ACCEPTANCE_FAILURE"]  # not told twice
    bus.heard_floor(BUS_KEY_ID, told[0]["floor"])
    tick = payload.tc("BUS_TICK", bus_tick_args(payload.time + 1), source=d.SOURCE_BUS, ack=0)
    assert "HOUSEKEEPING" in [t.name for t in payload.send(tick)]


def test_keys_rotate_by_command_and_the_rotation_survives_a_restart(payload):
    assert failure(payload.command("KEY_ACTIVATE", {"key_id": 999}))[0] is F.KEY_UNKNOWN
    code, reason = failure(payload.command("KEY_DEACTIVATE", {"key_id": IN_USE}))
    assert code is F.KEY_LAST_IN_USE and "activate another first" in reason
    tms = payload.command("KEY_ACTIVATE", {"key_id": SPARE})
    assert [(t.name, t.values.get("key_id")) for t in tms][1] == ("KEY_ACTIVATED", SPARE)
    new = signed_with(SPARE)
    payload.signers[d.SOURCE_GROUND] = new  # the ground switches
    tms = payload.command("KEY_DEACTIVATE", {"key_id": IN_USE})
    assert [t.name for t in tms] == ["ACCEPTANCE_SUCCESS", "KEY_DEACTIVATED", "COMPLETION_SUCCESS"]
    payload.restart()
    old = signed_with(IN_USE)
    code, reason = failure(payload.send(old.sign(plain(payload))))
    assert code is F.AUTH_UNKNOWN_KEY and "key 256" in reason
    (listing,) = [t for t in payload.command("REPORT_KEYS") if t.name == "KEY_LIST"]
    keys = {k["id"]: k for k in listing.values["keys"]}
    assert [(k["source"], k["in_use"]) for k in keys.values()] == [
        ("BUS", True),
        ("GROUND", False),
        ("GROUND", True),
    ]
    assert keys[SPARE]["last_seq"] == new.last and keys[BUS_KEY_ID]["last_seq"] == -1


def test_the_controller_will_not_start_without_a_usable_key_file(tmp_path):
    files = provision_keys(tmp_path / "keys")
    files.flight.chmod(0o640)
    for keys, message in [
        (files.flight, "open to others (mode 0640): chmod 600"),
        (tmp_path / "none.toml", "No such file"),
    ]:
        out = subprocess.run(
            [sys.executable, "-m", "flight", "run", "--bus", "/dev/null", "--keys", str(keys)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
