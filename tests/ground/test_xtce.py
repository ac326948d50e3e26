"""The XTCE export: valid against the XTCE 1.2 schema, and a real XTCE decoder (space-packet-parser)
reads every kind of telemetry packet and event to the same values as our own decoder."""

import io
import math
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET

import lxml.etree
import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from space_packet_parser.xtce.definitions import XtcePacketDefinition
from space_packet_parser.xtce.validation import validate_xtce

from flight import dictionary as d
from flight.protocol.fields import Field
from flight.protocol.messages import decode_telemetry, encode_event, encode_telemetry
from flight.protocol.packets import build_tm, parse_packet
from ground.xtce import NAMESPACE, export

DOCUMENT = export()
NS = {"x": NAMESPACE}


@pytest.fixture(scope="module")
def definition() -> XtcePacketDefinition:
    return XtcePacketDefinition.from_xtce(io.BytesIO(DOCUMENT.encode()))


def test_the_export_is_valid_against_the_xtce_schema():
    result = validate_xtce(
        lxml.etree.ElementTree(lxml.etree.fromstring(DOCUMENT.encode())),
        level="schema",
        print_results=False,
        raise_on_error=False,
        allow_schema_download=False,  # the schema bundled with space-packet-parser
    )
    assert result, "\n".join(str(e) for e in result.errors[:10])


def test_a_broken_export_is_caught_by_the_schema():
    broken = DOCUMENT.replace('encoding="IEEE754_1985"', 'encoding="IEEE754_2019"', 1)
    result = validate_xtce(
        lxml.etree.ElementTree(lxml.etree.fromstring(broken.encode())),
        level="schema",
        print_results=False,
        raise_on_error=False,
        allow_schema_download=False,
    )
    assert not result


def _value(f: Field) -> st.SearchStrategy:
    if f.enum:
        return st.sampled_from(sorted(f.enum))
    return {
        "u8": st.integers(0, 0xFF),
        "u16": st.integers(0, 0xFFFF),
        "u32": st.integers(0, 0xFFFF_FFFF),
        "u64": st.integers(0, 2**64 - 1),
        "i32": st.integers(-(2**31), 2**31 - 1),
        "f32": st.floats(width=32, allow_nan=False, allow_infinity=False),
        "f64": st.floats(allow_nan=False, allow_infinity=False),
        "cuc": st.integers(0, 2**48 - 1).map(lambda ticks: ticks / 65536),
        "str": st.text(max_size=40).filter(lambda s: len(s.encode()) <= 255),
        "bytes": st.binary(max_size=300),
        "msgpack": st.dictionaries(st.text(max_size=8), st.integers(-1000, 1000), max_size=5),
    }[f.type]


KINDS = [("tm", t.name, t.fields) for t in d.TELEMETRY if t.service != 5] + [
    ("event", e.name, e.args) for e in d.EVENTS
]


@pytest.mark.parametrize("kind, name, fields", KINDS, ids=[k[1] for k in KINDS])
@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_space_packet_parser_decodes_what_we_send(definition, kind, name, fields, data):
    values = {f.name: data.draw(_value(f), label=f.name) for f in fields}
    packet_kind, source = (encode_telemetry if kind == "tm" else encode_event)(name, values)
    raw = build_tm(
        d.APID_PAYLOAD,
        data.draw(st.integers(0, 0x3FFF)),
        packet_kind.service,
        packet_kind.subtype,
        source,
        msg_counter=7,
        dest_id=d.SOURCE_GROUND,
        time=1_795_000_000.25,
        time_synced=True,
    )
    ours = decode_telemetry(parse_packet(raw))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # space-packet-parser warns when bits are left over
        theirs = dict(definition.parse_bytes(raw))
    assert theirs["PUS_SERVICE"] == packet_kind.service
    assert theirs["PUS_TIME"] == pytest.approx(1_795_000_000.25)
    assert theirs["PACKET_ERROR_CONTROL"] == int.from_bytes(raw[-2:], "big")
    for f in fields:
        got = theirs[f.name] if f.name in theirs else theirs[f"{name}_{f.name}"]
        want = ours.values[f.name]
        if want is None:  # not valid (its flag 0): their decoder reads what stands for it
            assert values[f.valid_when] == 0 and (got == 0 or math.isnan(got)), f.name
            continue
        if f.type == "msgpack":
            got = msgpack.unpackb(got, raw=False)
        elif f.enum:
            want = f.enum[want]
        assert got == want, f.name


def _root() -> ET.Element:
    return ET.fromstring(DOCUMENT.encode())


def test_limits_become_alarm_ranges():
    root = _root()
    parameter = root.find(".//x:Parameter[@name='gpu_temp_c']", NS)
    ptype = root.find(f".//x:FloatParameterType[@name='{parameter.get('parameterTypeRef')}']", NS)
    ranges = ptype.find("x:DefaultAlarm/x:StaticAlarmRanges", NS)
    assert ranges.find("x:WarningRange", NS).get("maxInclusive") == "80.0"
    assert ranges.find("x:CriticalRange", NS).get("maxInclusive") == "87.0"


def test_every_command_is_a_meta_command_with_its_service_and_hazard():
    root = _root()
    for c in d.COMMANDS:
        m = root.find(f".//x:MetaCommand[@name='{c.name}']", NS)
        assigned = {
            a.get("argumentName"): int(a.get("argumentValue"))
            for a in m.iterfind(".//x:ArgumentAssignment", NS)
        }
        assert assigned == {
            "PUS_SERVICE": c.service,
            "PUS_SUBTYPE": c.subtype,
            "SOURCE_ID": c.source,
        }
        arguments = [a.get("name") for a in m.iterfind("x:ArgumentList/x:Argument", NS)]
        assert [f.name for f in c.args] == [a for a in arguments if a in {f.name for f in c.args}]
        significance = m.find("x:DefaultSignificance", NS)
        assert (significance is not None) == c.hazardous, c.name


def test_the_command_line_writes_the_export(tmp_path):
    out = tmp_path / "payload.xml"
    run = subprocess.run(
        [sys.executable, "-m", "ground", "xtce", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert out.read_text() == DOCUMENT
