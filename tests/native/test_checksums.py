"""native.crc16 and native.crc32c against crcmod and the crc32c package, chaining included."""

import os
import subprocess
import sys

import crc32c as crc32c_ref
import crcmod.predefined
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import native

crc16_ref = crcmod.predefined.mkCrcFun("crc-ccitt-false")


def test_check_values():
    assert native.crc16(b"123456789") == 0x29B1
    assert native.crc32c(b"123456789") == 0xE3069283
    assert native.crc16(b"") == 0xFFFF
    assert native.crc32c(b"") == 0


sizes = st.one_of(st.binary(max_size=300), st.binary(min_size=250, max_size=5000))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes)
def test_crc16_matches_crcmod(crc_path, data):
    assert native.crc16(data) == crc16_ref(data)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes)
def test_crc32c_matches_crc32c_package(crc_path, data):
    assert native.crc32c(data) == crc32c_ref.crc32c(data)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2048), st.binary(max_size=2048))
def test_chaining_matches_references(crc_path, first, second):
    assert native.crc16(second, native.crc16(first)) == crc16_ref(second, crc16_ref(first))
    assert native.crc16(second, native.crc16(first)) == native.crc16(first + second)
    assert native.crc32c(second, native.crc32c(first)) == crc32c_ref.crc32c(
        second, crc32c_ref.crc32c(first)
    )
    assert native.crc32c(second, native.crc32c(first)) == native.crc32c(first + second)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=1024), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF))
def test_arbitrary_start_values_match(crc_path, data, start16, start32):
    assert native.crc16(data, start16) == crc16_ref(data, start16)
    assert native.crc32c(data, start32) == crc32c_ref.crc32c(data, start32)


@pytest.mark.parametrize(
    "make",
    [bytes, bytearray, memoryview, lambda b: np.frombuffer(b, dtype=np.uint8).copy()],
    ids=["bytes", "bytearray", "memoryview", "numpy"],
)
def test_any_buffer_object(crc_path, make):
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


def test_megabyte_buffers_on_every_path(crc_path):
    data = np.random.default_rng(7).integers(0, 256, 3 << 20, dtype=np.uint8)
    assert native.crc32c(data) == crc32c_ref.crc32c(data.tobytes())
    assert native.crc16(data[: 1 << 20]) == crc16_ref(data[: 1 << 20].tobytes())


def test_unknown_path_is_refused():
    with pytest.raises(ValueError, match="not available"):
        native.set_crc_path("quantum")


def test_environment_forces_the_portable_path(tmp_path):
    code = "import native; print(native.crc_path(), native.crc_paths()[-1])"

    def paths(setting):
        env = dict(os.environ, PAYLOAD_NATIVE_PORTABLE=setting)
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.split()

    assert paths("1")[0] == "portable"
    in_use, fastest = paths("0")
    assert in_use == fastest
