"""native.crc16 and native.crc32c against crcmod and the crc32c package, chaining included."""

import crc32c as crc32c_ref
import crcmod.predefined
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import native

crc16_ref = crcmod.predefined.mkCrcFun("crc-ccitt-false")


def test_check_values():
    assert native.crc16(b"123456789") == 0x29B1
    assert native.crc32c(b"123456789") == 0xE3069283
    assert native.crc16(b"") == 0xFFFF
    assert native.crc32c(b"") == 0


@given(st.binary(max_size=4096))
def test_crc16_matches_crcmod(data):
    assert native.crc16(data) == crc16_ref(data)


@given(st.binary(max_size=4096))
def test_crc32c_matches_crc32c_package(data):
    assert native.crc32c(data) == crc32c_ref.crc32c(data)


@given(st.binary(max_size=2048), st.binary(max_size=2048))
def test_chaining_matches_references(first, second):
    assert native.crc16(second, native.crc16(first)) == crc16_ref(second, crc16_ref(first))
    assert native.crc16(second, native.crc16(first)) == native.crc16(first + second)
    assert native.crc32c(second, native.crc32c(first)) == crc32c_ref.crc32c(
        second, crc32c_ref.crc32c(first)
    )
    assert native.crc32c(second, native.crc32c(first)) == native.crc32c(first + second)


@given(st.binary(min_size=1, max_size=512), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF))
def test_arbitrary_start_values_match(data, start16, start32):
    assert native.crc16(data, start16) == crc16_ref(data, start16)
    assert native.crc32c(data, start32) == crc32c_ref.crc32c(data, start32)


@pytest.mark.parametrize(
    "make",
    [bytes, bytearray, memoryview, lambda b: np.frombuffer(b, dtype=np.uint8).copy()],
    ids=["bytes", "bytearray", "memoryview", "numpy"],
)
def test_any_buffer_object(make):
    data = bytes(range(256)) * 5
    assert native.crc16(make(data)) == crc16_ref(data)
    assert native.crc32c(make(data)) == crc32c_ref.crc32c(data)


def test_wide_numpy_dtype_is_read_as_its_bytes():
    arr = np.arange(1000, dtype=np.uint32)
    assert native.crc32c(arr) == crc32c_ref.crc32c(arr.tobytes())


def test_buffer_is_read_in_place():
    buf = bytearray(b"123456789")
    view = memoryview(buf)[2:7]
    assert native.crc16(view) == crc16_ref(b"34567")
    buf[3] = ord("x")
    assert native.crc16(view) == crc16_ref(b"3x567")


def test_non_contiguous_buffer_is_refused():
    arr = np.arange(64, dtype=np.uint8)[::2]
    with pytest.raises((ValueError, TypeError)):
        native.crc16(arr)
