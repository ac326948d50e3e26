"""native.cobs_encode and cobs_decode: round trips, the cobs package as oracle, malformed frames."""

import cobs.cobs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import native

zero_heavy = st.lists(st.sampled_from([0, 0, 1, 0x7F, 0xFF]), max_size=1200).map(bytes)


@given(st.one_of(st.binary(max_size=2000), zero_heavy))
def test_round_trip_and_no_zero(data):
    frame = native.cobs_encode(data)
    assert 0 not in frame
    assert len(frame) <= len(data) + len(data) // 254 + 1
    assert native.cobs_decode(frame) == data


@given(st.one_of(st.binary(max_size=2000), zero_heavy))
def test_encoding_matches_the_cobs_package(data):
    assert native.cobs_encode(data) == cobs.cobs.encode(data)


@given(st.binary(max_size=600))
def test_any_bytes_decode_or_raise_value_error(frame):
    try:
        decoded = native.cobs_decode(frame)
    except ValueError as exc:
        assert "malformed COBS frame" in str(exc)
        with pytest.raises(cobs.cobs.DecodeError):
            cobs.cobs.decode(frame)
    else:
        assert decoded == cobs.cobs.decode(frame)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x03\x11\x00", "0x00 byte inside the frame at offset 2"),
        (b"\x05\x11\x22", "past the end of the frame at offset 0"),
    ],
)
def test_malformed_frames_name_the_fault(frame, reason):
    with pytest.raises(ValueError, match=reason):
        native.cobs_decode(frame)


def test_empty_frame_decodes_to_nothing():
    assert native.cobs_decode(b"") == b""
    assert native.cobs_encode(b"") == b"\x01"
