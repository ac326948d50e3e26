"""native.pack_primary_header and unpack_primary_header against spacepackets."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spacepackets.ccsds.spacepacket import PacketType, SequenceFlags, SpacePacketHeader

import native


@given(
    ptype=st.integers(0, 1),
    apid=st.integers(0, 0x7FF),
    seq_flags=st.integers(0, 3),
    seq_count=st.integers(0, 0x3FFF),
    data_length=st.integers(0, 0xFFFF),
    sec=st.integers(0, 1),
)
def test_pack_matches_spacepackets_and_round_trips(
    ptype, apid, seq_flags, seq_count, data_length, sec
):
    raw = native.pack_primary_header(
        type=ptype,
        apid=apid,
        seq_count=seq_count,
        data_length=data_length,
        sec_hdr_flag=sec,
        seq_flags=seq_flags,
    )
    ref = SpacePacketHeader(
        packet_type=PacketType(ptype),
        apid=apid,
        seq_count=seq_count,
        data_len=data_length,
        sec_header_flag=bool(sec),
        seq_flags=SequenceFlags(seq_flags),
    )
    assert raw == bytes(ref.pack())
    hdr = native.unpack_primary_header(raw)
    assert hdr == native.PrimaryHeader(0, ptype, sec, apid, seq_flags, seq_count, data_length)
    assert hdr.packet_length == data_length + 7


@pytest.mark.parametrize(
    "bad",
    [
        {"apid": 0x800},
        {"seq_count": 0x4000},
        {"type": 2},
        {"seq_flags": 4},
        {"data_length": -1},
        {"data_length": 0x10000},
    ],
)
def test_out_of_range_fields_are_refused(bad):
    fields = {"type": 0, "apid": 1, "seq_count": 0, "data_length": 0} | bad
    with pytest.raises(ValueError):
        native.pack_primary_header(**fields)


def test_short_buffer_is_refused():
    with pytest.raises(ValueError, match="needs 6 octets, got 5"):
        native.unpack_primary_header(b"\x00" * 5)
