"""native.scan_packets, cobs_split and pack_tm against spacepackets, the cobs package and a
per-packet reference."""

import cobs.cobs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from spacepackets.ecss.tm import PusTm

import native
from flight.protocol.packets import build_tc

packet_specs = st.lists(
    st.tuples(
        st.integers(0, 0x7FF), st.integers(0, 0x3FFF), st.binary(max_size=300), st.booleans()
    ),
    max_size=30,
)


def tm(apid, seq, data, corrupt=False):
    raw = bytearray(
        native.pack_tm(
            apid=apid,
            seq_count=seq,
            service=3,
            subtype=25,
            msg_counter=seq,
            dest_id=0x100,
            coarse_time=1_767_225_600,
            fine_time=0x4000,
            time_synced=True,
            data=data,
        )
    )
    if corrupt:
        raw[len(raw) // 2] ^= 0x10
    return bytes(raw)


@given(packet_specs, st.binary(max_size=40))
def test_scan_finds_every_packet_and_checks_every_crc(specs, tail):
    packets = [tm(*spec) for spec in specs]
    stream = b"".join(packets)
    rows, trailing = native.scan_packets(stream + tail)
    # The tail may itself hold whole "packets" by its length fields; the known ones come first.
    assert len(rows) >= len(packets)
    offset = 0
    for row, raw, (apid, seq, _, corrupt) in zip(rows[: len(packets)], packets, specs, strict=True):
        assert (row["offset"], row["length"], row["apid"], row["seq_count"]) == (
            offset,
            len(raw),
            apid,
            seq,
        )
        assert (row["type"], row["sec_hdr_flag"], row["seq_flags"]) == (0, 1, 3)
        assert bool(row["crc_ok"]) == (not corrupt)
        offset += len(raw)
    assert trailing == len(stream) + len(tail) - int(rows["length"].sum())


def test_scan_reports_a_truncated_packet_as_trailing():
    one = tm(0x65, 1, b"abc")
    rows, trailing = native.scan_packets(one + one[:-1])
    assert len(rows) == 1 and trailing == len(one) - 1
    rows, trailing = native.scan_packets(b"")
    assert len(rows) == 0 and trailing == 0


def test_scan_reads_telecommands_and_numpy_buffers():
    raw = build_tc(0x65, 9, 17, 1, b"", source_id=1, ack_flags=0)
    rows, _ = native.scan_packets(np.frombuffer(raw * 3, dtype=np.uint8))
    assert list(rows["type"]) == [1, 1, 1] and rows["crc_ok"].all()


@given(st.integers(0, 0x7FF), st.integers(0, 0x3FFF), st.binary(max_size=500))
def test_pack_tm_reads_with_spacepackets(apid, seq, data):
    ref = PusTm.unpack(tm(apid, seq, data), timestamp_len=6)
    assert (ref.apid, ref.seq_count, ref.service, ref.message_subtype) == (apid, seq, 3, 25)
    assert ref.source_data == data and ref.timestamp == b"\x69\x55\xb9\x00\x40\x00"


def test_pack_tm_refuses_out_of_range_fields():
    with pytest.raises(ValueError):
        tm(0x800, 0, b"")


frame_lists = st.lists(st.binary(max_size=120), max_size=20)


@given(frame_lists, st.binary(max_size=30).filter(lambda b: 0 not in b))
def test_cobs_split_matches_frame_by_frame_decoding(frames, tail):
    stream = b"".join(cobs.cobs.encode(f) + b"\x00" for f in frames) + tail
    decoded, rest, bad = native.cobs_split(stream)
    assert decoded == [f for f in frames if cobs.cobs.encode(f)]
    assert rest == tail and bad == 0


@given(st.binary(max_size=400))
def test_cobs_split_any_stream(stream):
    decoded, rest, bad = native.cobs_split(stream)
    pieces = stream.split(b"\x00")
    complete = [p for p in pieces[:-1] if p]
    assert rest == pieces[-1]
    expected = []
    for piece in complete:
        try:
            expected.append(cobs.cobs.decode(piece))
        except cobs.cobs.DecodeError:
            pass
    assert decoded == expected and bad == len(complete) - len(expected)


def test_cobs_split_drops_oversized_frames():
    stream = cobs.cobs.encode(b"x" * 50) + b"\x00" + cobs.cobs.encode(b"ok") + b"\x00"
    decoded, rest, bad = native.cobs_split(stream, max_frame_len=20)
    assert decoded == [b"ok"] and rest == b"" and bad == 1


def test_scan_grows_past_an_estimate_from_a_large_first_packet():
    big = tm(0x65, 0, bytes(3000))
    small = [tm(0x65, i, b"") for i in range(1, 2000)]
    rows, trailing = native.scan_packets(big + b"".join(small))
    assert len(rows) == 2000 and trailing == 0
    assert list(rows["seq_count"]) == list(range(2000)) and rows["crc_ok"].all()
    assert rows["offset"][1] == len(big) and rows["offset"][-1] == len(big) + 1998 * len(small[0])
