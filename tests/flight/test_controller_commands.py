"""The controller's answers to good and bad telecommands, over a real pty, in lockstep."""

import msgpack
import pytest

from flight import dictionary as d
from flight.protocol.framing import frame
from tests.flight.conftest import bus_tick_args, signed_job

F = d.FailureCode


def failure(tms, stage="ACCEPTANCE_FAILURE"):
    reports = [t for t in tms if t.name == stage]
    assert len(reports) == 1, [t.name for t in tms]
    return F(reports[0].values["code"]), reports[0].values["reason"]


def test_every_dictionary_command_has_a_handler(payload):
    assert set(payload.ctl.dispatcher.handlers) == set(d.COMMANDS_BY_NAME)


def test_ping_is_verified_and_answered(payload):
    packet = payload.tc("PING")
    tms = payload.send(packet)
    assert [t.name for t in tms] == ["ACCEPTANCE_SUCCESS", "PING_REPORT", "COMPLETION_SUCCESS"]
    for t in (tms[0], tms[2]):
        assert t.values["request_packet_id"].to_bytes(2, "big") == packet[:2]
        assert t.values["request_seq_ctrl"].to_bytes(2, "big") == packet[2:4]
        assert t.packet.dest_id == d.SOURCE_GROUND
    assert payload.ctl.counters.tc_accepted == 1


def test_ack_flags_choose_the_success_reports(payload):
    assert [t.name for t in payload.command("PING", ack=0)] == ["PING_REPORT"]
    assert [t.name for t in payload.command("NOOP", ack=d.ACK_COMPLETION)] == ["COMPLETION_SUCCESS"]


def test_first_tick_synchronises_time_and_each_tick_sends_housekeeping(payload):
    before = payload.command("PING", ack=0)[0]
    assert not before.packet.time_synced and before.packet.time == 0
    tms = payload.tick(allowance=123.5)
    assert [t.name for t in tms] == ["TIME_SYNCHRONISED", "HOUSEKEEPING"]
    hk = tms[1]
    assert hk.packet.time == payload.time and hk.packet.time_synced
    assert hk.values["ticks"] == 1 and hk.values["power_allowance_w"] == 123.5
    tms = payload.tick()
    assert [t.name for t in tms] == ["HOUSEKEEPING"]
    assert tms[0].values["uptime_s"] == 1 and tms[0].values["ticks"] == 2
    assert payload.ctl.counters.tc_accepted == 1  # the PING; bus ticks are not counted


def test_housekeeping_reports_what_the_bus_said(payload):
    hk = payload.tick(
        80.0, battery_soc=0.42, sink_temp_c=-61.5, sunlit=0, eclipse_in_s=0, link_in_s=300
    )[-1].values
    assert (hk["power_allowance_w"], hk["sunlit"], hk["eclipse_in_s"], hk["link_in_s"]) == (
        80.0,
        0,
        0,
        300,
    )
    assert hk["battery_soc"] == pytest.approx(0.42) and hk["sink_temp_c"] == -61.5


def test_bus_time_stepping_back_is_an_event_not_a_crash(payload):
    payload.install_job("slow", "exec sleep 600\n")
    payload.tick()
    payload.command("SUBMIT_JOB", {"manifest": {"id": "s", "command": ["slow"]}})
    payload.tick()
    payload.time -= 3600  # the bus's clock steps back an hour
    tms = payload.tick()
    jump = [t for t in tms if t.name == "TIME_JUMP"]
    assert len(jump) == 1 and jump[0].values["received"] == jump[0].values["expected"] - 3600
    hk = tms[-1].values
    # a job's run time counts the seconds it ran (ticks), whatever the clock says
    assert hk["uptime_s"] == 0 and hk["job_elapsed_s"] == 1 and hk["job_state"] == 2
    payload.time += 3600  # and back again
    assert [t.name for t in payload.tick()] == ["TIME_JUMP", "HOUSEKEEPING"]
    assert [t.name for t in payload.tick()] == ["HOUSEKEEPING"]


def test_bad_checksum_is_rejected_and_counted(payload):
    packet = bytearray(payload.tc("PING"))
    packet[-1] ^= 1
    code, _ = failure(payload.send(bytes(packet)))
    assert code is F.BAD_CHECKSUM
    assert payload.ctl.counters.packets_bad_crc == 1
    assert payload.ctl.counters.tc_rejected == 0  # never decoded as a command


def test_unknown_apid(payload):
    code, reason = failure(payload.command("PING", apid=0x123))
    assert code is F.ILLEGAL_APID and "0x123" in reason
    assert payload.ctl.counters.packets_unknown_apid == 1


@pytest.mark.parametrize(
    ("service", "subtype", "code"), [(99, 1, F.ILLEGAL_SERVICE), (17, 9, F.ILLEGAL_SUBTYPE)]
)
def test_unknown_command(payload, service, subtype, code):
    assert failure(payload.send(payload.signed(service, subtype)))[0] is code
    assert payload.ctl.counters.tc_rejected == 1


def test_bad_arguments_and_wrong_source(payload):
    tick = payload.tc("BUS_TICK", bus_tick_args(5.0, 1.0), source=d.SOURCE_BUS)
    from flight.protocol.packets import parse_packet
    from flight.security.tc_auth import TRAILER_LEN

    data = parse_packet(tick).app_data[:-TRAILER_LEN]
    short = payload.signed(200, 1, data[:-1], source=d.SOURCE_BUS, ack=0)
    code, reason = failure(payload.send(short))
    assert code is F.BAD_ARGUMENTS and "link_s" in reason
    out_of_range = payload.signed(
        200,
        1,
        data[:6] + b"\xc0\x00\x00\x00" + data[10:],  # allowance -2 W
        source=d.SOURCE_BUS,
        ack=0,
    )
    assert failure(payload.send(out_of_range))[0] is F.BAD_ARGUMENTS
    code, _ = failure(payload.command("BUS_TICK", bus_tick_args(5.0, 1.0)))
    assert code is F.WRONG_SOURCE
    assert payload.ctl.counters.tc_rejected == 3
    assert payload.ctl.clock.ticks == 0


def test_length_field_mismatch_and_telemetry_on_the_uplink(payload):
    packet = bytearray(payload.tc("PING"))
    code, _ = failure(payload.send(bytes(packet[:-3] + packet[-2:])))
    assert code is F.BAD_LENGTH
    tm = payload.command("PING", ack=0)[0]  # a real TM packet, sent back up
    from flight.protocol.packets import build_tm

    raw = build_tm(
        d.APID_PAYLOAD, 0, 17, 2, b"", msg_counter=0, dest_id=0, time=0, time_synced=False
    )
    assert payload.send(raw) == []
    assert payload.ctl.counters.packets_bad_header == 2
    assert tm.name == "PING_REPORT"


def test_reset_counters(payload):
    payload.command("PING", apid=0x7FF)
    payload.send_bytes(b"\x07\x01\x00")
    payload.command("RESET_COUNTERS")
    hk = payload.tick()[-1].values
    assert hk["packets_unknown_apid"] == 0 and hk["frames_bad"] == 0 and hk["tc_accepted"] == 0


GOOD = {"id": "job-1", "command": ["ok"], "time_limit_s": 60}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "../escape"}, "id"),
        ({"id": ""}, "id"),
        ({"id": 7}, "id"),
        ({"command": []}, "command"),
        ({"command": ["/bin/sh"]}, "command[0]"),
        ({"command": ["ok", 3]}, "command"),
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"time_limit_s": True}, "time_limit_s"),
        ({"time_limit_s": 1e9}, "time_limit_s"),
        ({"env": {"JOB_ID": "x"}}, "env"),
        ({"env": {"lower": "x"}}, "env"),
        ({"surprise": 1}, "unknown key"),
    ],
)
def test_invalid_manifests_are_refused_with_the_field_named(payload, change, field):
    payload.install_job("ok", "exit 0\n")
    code, reason = failure(payload.command("SUBMIT_JOB", {"manifest": GOOD | change}))
    assert code is F.MANIFEST_INVALID and field in reason
    assert payload.ctl.counters.manifests_rejected == 1
    assert payload.ctl.runner.jobs == {}


def test_manifest_that_is_not_a_map(payload):
    code, reason = failure(payload.command("SUBMIT_JOB", {"manifest": [1, 2]}))
    assert code is F.MANIFEST_INVALID and "map" in reason


def test_manifest_that_is_not_msgpack(payload):
    packet = payload.signed(140, 1, b"\xc1")
    assert failure(payload.send(packet))[0] is F.BAD_ARGUMENTS


def test_execution_failures(payload):
    code, reason = failure(payload.command("SUBMIT_JOB", {"manifest": GOOD}), "COMPLETION_FAILURE")
    assert code is F.EXECUTABLE_NOT_FOUND and "'ok'" in reason
    payload.install_job("ok", "exit 0\n")
    assert "COMPLETION_SUCCESS" in [
        t.name for t in payload.command("SUBMIT_JOB", {"manifest": GOOD})
    ]
    code, _ = failure(payload.command("SUBMIT_JOB", {"manifest": GOOD}), "COMPLETION_FAILURE")
    assert code is F.JOB_DUPLICATE
    assert payload.ctl.counters.tc_failed == 2


def test_queue_limit(payload):
    payload.install_job("ok", "exit 0\n")
    payload.ctl.runner.queue.max_queue = 2
    for i in range(2):
        payload.command("SUBMIT_JOB", {"manifest": GOOD | {"id": f"j{i}"}})
    code, _ = failure(
        payload.command("SUBMIT_JOB", {"manifest": GOOD | {"id": "j9"}}), "COMPLETION_FAILURE"
    )
    assert code is F.QUEUE_FULL


def test_raw_manifest_bytes_are_the_msgpack_map(payload):
    payload.install_job("ok", "exit 0\n")
    packet = payload.signed(
        140, 1, msgpack.packb(signed_job("SUBMIT_JOB", {"manifest": GOOD})["manifest"])
    )
    assert [t.name for t in payload.send(packet)] == [
        "ACCEPTANCE_SUCCESS",
        "JOB_QUEUED",
        "COMPLETION_SUCCESS",
    ]
    assert payload.send_bytes(frame(b"")) is None  # an empty packet frame: counted, no answer
