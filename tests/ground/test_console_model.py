"""The console's model and command line without a screen: verification matching (whatever order
the station's answer and the reports arrive in), parsing and completion from the dictionary."""

import re

import pytest

from flight.protocol.messages import decode_telemetry
from flight.protocol.packets import parse_packet
from ground.command_requests import RequestError
from ground.console.command_line import complete, parse, parse_command
from ground.console.model import Model
from flight import dictionary as d
from tests.ground.test_archive import T0, hk, tm

REQUEST = bytes.fromhex("1865c007")


def report(name, **extra):
    values = {"request_packet_id": 0x1865, "request_seq_ctrl": 0xC007} | extra
    return decode_telemetry(parse_packet(tm(name, values, 1, T0)))


@pytest.mark.parametrize("reports_first", [False, True])
def test_verification_reaches_its_command_in_either_order(reports_first):
    model = Model(clock=lambda: T0)
    serial = model.command_sent("NOOP", {})
    reports = [report("ACCEPTANCE_SUCCESS"), report("COMPLETION_SUCCESS")]
    if reports_first:  # the reports overtook the station's answer
        for r in reports:
            model.ingest(r)
    model.command_answered(serial, REQUEST)
    if not reports_first:
        for r in reports:
            model.ingest(r)
    assert model.commands[serial].status == "completed"


def test_a_value_that_is_not_valid_is_shown_so_never_as_a_number():
    model = Model(clock=lambda: T0)
    channels = {c.field.name: c for c in model.pages["HOUSEKEEPING"]}
    model.ingest(decode_telemetry(parse_packet(tm("HOUSEKEEPING", hk(gpu_temp_c=91.0), 1, T0))))
    assert channels["gpu_temp_c"].text() == "91.0 C"
    assert channels["gpu_temp_c"].level() == "red"
    off = hk(gpu_valid=0, gpu_temp_c=91.0)  # a stale reading offered: the wire says not valid
    model.ingest(decode_telemetry(parse_packet(tm("HOUSEKEEPING", off, 2, T0 + 1))))
    for name in ("gpu_temp_c", "gpu_power_w", "gpu_sm_clock_mhz", "gpu_ecc_uncorrected"):
        assert channels[name].text() == "not valid", name
        assert channels[name].level() is None  # no limit colour for what was not measured
    assert channels["gpu_valid"].text() == "NO"


def test_events_show_enum_values_by_name():
    model = Model(clock=lambda: T0)
    mode = {"mode": int(d.GovernorMode.THERMAL_LIMITED), "reason": "hot radiator"}
    model.ingest(decode_telemetry(parse_packet(tm("GOVERNOR_MODE", mode, 1, T0, event=True))))
    (entry,) = model.events
    assert entry.text == "mode=THERMAL_LIMITED reason=hot radiator"


def test_a_failure_carries_its_code_and_reason():
    model = Model(clock=lambda: T0)
    serial = model.command_sent("CANCEL_JOB", {"job_id": "x"})
    model.command_answered(serial, REQUEST)
    model.ingest(report("COMPLETION_FAILURE", code=29, reason="no such job"))
    entry = model.commands[serial]
    assert entry.describe() == "FAILED JOB_UNKNOWN: no such job"


def test_a_refused_command_says_why():
    model = Model(clock=lambda: T0)
    serial = model.command_sent("NOOP", {})
    model.command_answered(serial, None, "space link down: command not sent")
    assert model.commands[serial].describe() == "REFUSED space link down: command not sent"


def test_authority_requests_parse_and_the_model_follows_the_holder():
    assert [parse(f"authority {a}").authority for a in ("request", "release", "take")] == [
        "request",
        "release",
        "take",
    ]
    model = Model()
    model.station_message({"op": "welcome", "account": "ana", "link_up": True, "authority": None})
    assert (model.account, model.authority, model.link_up) == ("ana", None, True)
    model.station_message({"op": "authority", "holder": "ben"})
    assert model.authority == "ben"


@pytest.mark.parametrize(
    "line, name, args",
    [
        ("PING", "PING", {}),
        ("noop", "NOOP", {}),
        (
            "REPRIORITISE_JOB job_id=train-7 priority=200",
            "REPRIORITISE_JOB",
            {"job_id": "train-7", "priority": 200},
        ),
        ("CANCEL_JOB job_id='with space'", "CANCEL_JOB", {"job_id": "with space"}),
        (
            "DOWNLINK_FILE path=results/a.bin priority=5",
            "DOWNLINK_FILE",
            {"path": "results/a.bin", "priority": 5},
        ),
    ],
)
def test_lines_that_parse(line, name, args):
    request = parse(line)
    assert (request.name, request.args) == (name, args)
    assert request.hazardous == (name == "CANCEL_JOB")


@pytest.mark.parametrize(
    "line, message",
    [
        ("", "type a command"),
        ("FROB", "no command 'FROB'"),
        ("BUS_TICK", "BUS_TICK is sent by the bus, not the ground"),
        ("CANCEL_JOB", "CANCEL_JOB: missing argument: job_id"),
        ("CANCEL_JOB job=x", "CANCEL_JOB has no argument 'job'"),
        ("CANCEL_JOB x", "'x': arguments are NAME=VALUE"),
        ("REPRIORITISE_JOB job_id=x priority=300", "priority: 300 outside 0..255"),
        ("REPRIORITISE_JOB job_id=x priority=high", "priority"),
        ("PING 'unclosed", "cannot read the line"),
        ("submit nowhere.toml", "nowhere.toml"),
        ("upload nowhere.bin", "no file nowhere.bin"),
        ("authority", "authority takes one of request, release, take"),
        ("authority grab", "authority takes one of request, release, take"),
    ],
)
def test_mistakes_are_one_line(line, message):
    with pytest.raises(RequestError) as caught:
        parse(line)
    text = str(caught.value)
    assert message in text and "\n" not in text


@pytest.mark.parametrize(
    "typed, completed",
    [
        ("PI", "PING "),
        ("can", "CANCEL_JOB "),
        ("sub", "submit "),
        ("REPRIORITISE_JOB p", "REPRIORITISE_JOB priority="),
        ("CANCEL_JOB job_id=tr", "CANCEL_JOB job_id=train-7"),
        ("CANCEL_JOB job_id=zz", None),
        ("FROB x", None),
    ],
)
def test_completion_from_the_dictionary(typed, completed):
    assert complete(typed, ("train-7", "batch-1")) == completed


def test_a_command_stack_line_is_a_dictionary_command_and_nothing_else():
    assert parse_command("REPRIORITISE_JOB job_id=x priority=5").args == {
        "job_id": "x",
        "priority": 5,
    }
    for line, message in [
        ("", "an empty line"),
        ("submit job.toml", "no command 'SUBMIT'"),  # no files read on the web server's host
        ("upload /etc/passwd", "no command 'UPLOAD'"),
        ("REPRIORITISE_JOB job_id=x priority=300", "priority: 300 outside 0..255"),
    ]:
        with pytest.raises(RequestError, match=re.escape(message)):
            parse_command(line)
