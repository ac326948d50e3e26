"""Packets, time codes, field codecs and framing: round trips, and spacepackets as the oracle."""

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spacepackets.ecss.tc import PusTc
from spacepackets.ecss.tm import PusTm

import native
from flight import dictionary as d
from flight.protocol.fields import (
    Field,
    FieldError,
    Limits,
    fixed_layout,
    pack_fields,
    unpack_fields,
)
from flight.protocol.framing import MAX_FRAME_LEN, Deframer, frame
from flight.protocol.packets import (
    MAX_PACKET_LEN,
    PacketError,
    Telecommand,
    Telemetry,
    build_tc,
    build_tm,
    parse_packet,
)
from flight.protocol.timecode import decode_cuc, encode_cuc


@given(
    service=st.integers(0, 255),
    subtype=st.integers(0, 255),
    seq=st.integers(0, 0x3FFF),
    source=st.integers(0, 0xFFFF),
    ack=st.integers(0, 15),
    data=st.binary(max_size=300),
)
def test_telecommands_read_by_spacepackets(service, subtype, seq, source, ack, data):
    raw = build_tc(d.APID_PAYLOAD, seq, service, subtype, data, source_id=source, ack_flags=ack)
    ref = PusTc.unpack(raw)  # checks the CRC
    assert (ref.service, ref.message_subtype, ref.apid, ref.seq_count) == (
        service,
        subtype,
        d.APID_PAYLOAD,
        seq,
    )
    assert (ref.source_id, ref.pus_tc_sec_header.ack_flags, ref.app_data) == (source, ack, data)
    assert parse_packet(raw) == Telecommand(
        d.APID_PAYLOAD, seq, service, subtype, source, ack, data
    )


@given(
    service=st.integers(0, 255),
    subtype=st.integers(0, 255),
    seq=st.integers(0, 0x3FFF),
    counter=st.integers(0, 0xFFFF),
    dest=st.integers(0, 0xFFFF),
    time=st.integers(0, 2**32 - 1),
    fine=st.integers(0, 0xFFFF),
    data=st.binary(max_size=300),
    synced=st.booleans(),
)
def test_telemetry_read_by_spacepackets(
    service, subtype, seq, counter, dest, time, fine, data, synced
):
    t = time + fine / 65536
    raw = build_tm(
        d.APID_PAYLOAD,
        seq,
        service,
        subtype,
        data,
        msg_counter=counter,
        dest_id=dest,
        time=t,
        time_synced=synced,
    )
    ref = PusTm.unpack(raw, timestamp_len=6)
    assert (ref.service, ref.message_subtype, ref.apid, ref.seq_count) == (
        service,
        subtype,
        d.APID_PAYLOAD,
        seq,
    )
    assert (ref.pus_tm_sec_header.message_counter, ref.pus_tm_sec_header.dest_id) == (counter, dest)
    assert ref.source_data == data and ref.timestamp == encode_cuc(t)
    assert parse_packet(raw) == Telemetry(
        d.APID_PAYLOAD, seq, service, subtype, counter, dest, t, synced, data
    )


def test_cuc_round_trip_and_range():
    assert decode_cuc(encode_cuc(1_767_225_600.5)) == 1_767_225_600.5
    assert encode_cuc(1.0 + 1 / 65536) == b"\x00\x00\x00\x01\x00\x01"
    with pytest.raises(ValueError):
        encode_cuc(-1)
    with pytest.raises(ValueError):
        encode_cuc(2.0**32)


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda p: p[:5], d.FailureCode.BAD_LENGTH),
        (lambda p: p[:-1], d.FailureCode.BAD_LENGTH),
        (lambda p: p[:-1] + bytes([p[-1] ^ 0x80]), d.FailureCode.BAD_CHECKSUM),
    ],
)
def test_parse_errors_carry_their_failure_code(mutate, code):
    raw = build_tc(d.APID_PAYLOAD, 1, 17, 1, source_id=1, ack_flags=0)
    with pytest.raises(PacketError) as err:
        parse_packet(mutate(raw))
    assert err.value.code is code


def test_pus_a_secondary_header_is_refused():
    body = bytes([0x10, 17, 1, 0, 1])  # PUS version 1
    raw = (
        native.pack_primary_header(
            type=1, apid=d.APID_PAYLOAD, seq_count=0, data_length=len(body) + 1
        )
        + body
    )
    raw += native.crc16(raw).to_bytes(2, "big")
    with pytest.raises(PacketError) as err:
        parse_packet(raw)
    assert err.value.code is d.FailureCode.BAD_HEADER


def test_packets_over_the_mtu_are_refused():
    with pytest.raises(ValueError, match="MTU"):
        build_tc(d.APID_PAYLOAD, 0, 17, 1, bytes(MAX_PACKET_LEN), source_id=1, ack_flags=0)


values = st.fixed_dictionaries(
    {
        "a": st.integers(0, 255),
        "b": st.integers(-(2**31), 2**31 - 1),
        "c": st.floats(width=32, allow_nan=False, allow_infinity=False),
        "s": st.text(max_size=60),
        "raw": st.binary(max_size=100),
        "doc": st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**64 - 1), max_size=4),
    }
)
FIELDS = (
    Field("a", "u8"),
    Field("b", "i32"),
    Field("c", "f32"),
    Field("s", "str"),
    Field("raw", "bytes"),
    Field("doc", "msgpack"),
)


@given(values)
def test_fields_round_trip(v):
    assert unpack_fields(FIELDS, pack_fields(FIELDS, v)) == v


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_field_error(data):
    try:
        unpack_fields(FIELDS, data)
    except FieldError:
        pass


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"x": 256}, "x: 256 outside 0..255"),
        ({"x": -1}, "x:"),
        ({"x": 1.5}, "not an integer"),
        ({"x": "ON"}, "not one of"),
        ({}, "missing argument: x"),
        ({"x": 1, "y": 2}, "unknown argument"),
    ],
)
def test_field_errors_name_the_field(values, message):
    fields = (Field("x", "u8", enum={0: "OFF", 1: "ON_"}),)
    with pytest.raises(FieldError, match=message):
        pack_fields(fields, values)


def test_unencodable_msgpack_document_is_a_field_error():
    with pytest.raises(FieldError, match="doc: cannot be encoded as msgpack"):
        pack_fields((Field("doc", "msgpack"),), {"doc": {"n": 2**70}})


def test_float_fields_refuse_nan_and_range():
    f = (Field("w", "f32", minimum=0.0, maximum=10.0),)
    for bad in (math.nan, math.inf, -1.0, 11.0, "3", 1e39):
        with pytest.raises(FieldError):
            pack_fields(f, {"w": bad})


VALIDITY = (
    Field("ok", "u8"),
    Field("t", "f32", valid_when="ok"),
    Field("n", "u16", valid_when="ok"),
)


@given(st.booleans(), st.floats(-1e6, 1e6, width=32), st.integers(0, 0xFFFF))
def test_a_value_that_is_not_valid_is_none_after_the_wire_never_a_number(ok, t, n):
    """Flag 0: NaN and 0 on the wire, whatever was given, None decoded; flag 1: the values."""
    raw = pack_fields(VALIDITY, {"ok": int(ok), "t": t if ok else None, "n": n})
    decoded = unpack_fields(VALIDITY, raw)
    if ok:
        assert decoded == {"ok": 1, "t": t, "n": n}
    else:
        assert decoded == {"ok": 0, "t": None, "n": None}
        assert math.isnan(struct.unpack(">f", raw[1:5])[0]) and raw[5:] == b"\0\0"


def test_validity_contradictions_are_refused_both_ways():
    with pytest.raises(FieldError, match="t: no value, but ok says it is valid"):
        pack_fields(VALIDITY, {"ok": 1, "t": None, "n": 0})
    nan_but_valid = b"\x01" + struct.pack(">f", math.nan) + b"\0\0"
    with pytest.raises(FieldError, match="t: NaN, but ok says it is valid"):
        unpack_fields(VALIDITY, nan_but_valid)
    with pytest.raises(FieldError, match="not finite"):  # a field without a flag takes no NaN
        pack_fields((Field("w", "f32"),), {"w": math.nan})


def test_every_gpu_field_of_housekeeping_depends_on_gpu_valid():
    gpu = [f for f in d.HK_FIELDS if f.name.startswith("gpu_") and f.name not in ("gpu_valid",)]
    dependent = {f.name for f in gpu if f.valid_when == "gpu_valid"}
    assert dependent == {f.name for f in gpu} - {"gpu_control"}


@pytest.mark.parametrize(
    "value, level",
    [(0.5, None), (0.3, None), (0.29, "yellow"), (0.15, "yellow"), (0.1, "red"), (0.95, "yellow")],
)
def test_limits_yellow_then_red(value, level):
    limits = Limits(yellow_low=0.3, yellow_high=0.9, red_low=0.15)
    assert limits.level(value) == level


def test_housekeeping_limits_are_consistent():
    """Each red limit lies beyond its yellow one: a value turns yellow before it turns red."""
    for f in d.HK_FIELDS:
        if f.limits is None:
            continue
        lim = f.limits
        if lim.red_low is not None and lim.yellow_low is not None:
            assert lim.red_low <= lim.yellow_low, f.name
        if lim.red_high is not None and lim.yellow_high is not None:
            assert lim.red_high >= lim.yellow_high, f.name


@given(st.lists(st.binary(max_size=200), max_size=10), st.integers(1, 50))
def test_deframer_any_split(packets, step):
    stream = b"".join(frame(p) for p in packets)
    deframer = Deframer()
    out = []
    for i in range(0, len(stream), step):
        out += deframer.feed(stream[i : i + step])
    assert out == [p for p in packets]
    assert deframer.frames_bad == 0


def test_deframer_resynchronises_after_garbage():
    deframer = Deframer()
    good = frame(b"payload")
    out = deframer.feed(b"\x0f\x01garbage" + b"\x00" + good)
    assert out == [b"payload"] and deframer.frames_bad == 1


def test_deframer_bounds_its_memory():
    deframer = Deframer()
    assert deframer.feed(b"\x01" * (3 * MAX_FRAME_LEN)) == []
    assert len(deframer._pending) == 0 and deframer.frames_bad == 1
    assert deframer.feed(b"\x00" + frame(b"ok")) == [b"ok"]


def test_a_fields_bounds_are_its_limits_within_its_types_range():
    assert Field("a", "u8").bounds() == (0, 255)
    assert Field("b", "u16", minimum=10, maximum=70_000).bounds() == (10, 0xFFFF)
    assert Field("c", "i32", minimum=-5).bounds() == (-5, 2**31 - 1)
    assert Field("d", "f64", maximum=1.5).bounds() == (None, 1.5)
    assert Field("e", "f32").bounds()[1] == 3.4028234663852886e38
    assert Field("f", "str").bounds() == (None, None)


def _field_by_field(fields, data):
    """A structure decoded one field at a time (Field.unpack and Field.check, then the validity
    flags), as the decoder does for structures that are not all of fixed size."""
    values, offset = {}, 0
    for f in fields:
        value, offset = f.unpack(data, offset)
        values[f.name] = f.check(value)
    if offset != len(data):
        raise FieldError("left over")
    for f in fields:
        if f.valid_when is not None and not values[f.valid_when]:
            values[f.name] = None
        elif f.valid_when is not None and isinstance(values[f.name], float):
            if math.isnan(values[f.name]):
                raise FieldError("valid NaN")
    return values


@given(st.data())
def test_a_fixed_size_structure_decodes_in_one_call_as_field_by_field(data):
    """Housekeeping, all fixed-size fields, is read in one struct call: for any octets of its
    size, the same values, or a FieldError where field by field finds one."""
    fields = d.TELEMETRY_BY_NAME["HOUSEKEEPING"].fields
    layout = fixed_layout(fields)
    assert len(layout) == len(fields)  # all fixed: the one-call path
    offset, fmt = layout[fields[-1].name]
    size = offset + struct.calcsize(fmt)
    lowest = pack_fields(
        fields, {f.name: min(f.enum) if f.enum else f.minimum or 0 for f in fields}
    )
    raw = data.draw(st.one_of(st.just(lowest), st.binary(min_size=size, max_size=size)))
    try:
        expected = _field_by_field(fields, raw)
    except FieldError:
        with pytest.raises(FieldError):
            unpack_fields(fields, raw)
        return
    got = unpack_fields(fields, raw)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        same_nan = isinstance(value, float) and math.isnan(value) and math.isnan(got[name])
        assert got[name] == value or same_nan
    with pytest.raises(FieldError):
        unpack_fields(fields, raw[:-1])
    with pytest.raises(FieldError):
        unpack_fields(fields, raw + b"\0")
