"""The CFDP file checksums of the native core against peers: crcmod for CRC-32 and the
Proximity-1 CRC-32, cfdp-py's modular checksum, the crc32c package for the CRC combination, on
every CRC path this CPU runs. (Data received in any order: tests/native/test_reception.py.)"""

import crc32c as crc32c_ref
import crcmod
import crcmod.predefined
from cfdppy.crc import calc_modular_checksum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import native

crc32_ref = crcmod.predefined.mkCrcFun("crc-32")
prox1_ref = crcmod.mkCrcFun(0x100A00805, initCrc=0, rev=False, xorOut=0)
sizes = st.one_of(st.binary(max_size=300), st.binary(min_size=250, max_size=5000))
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_check_values():
    assert native.crc32(b"123456789") == 0xCBF43926
    assert native.crc32_prox1(b"123456789") == prox1_ref(b"123456789")
    assert native.cfdp_modular(b"\x01\x02\x03\x04\x05") == 0x06020304


@fixture_ok
@given(sizes, st.integers(0, 300))
def test_crc32_matches_crcmod_and_chains(crc_path, data, cut):
    assert native.crc32(data) == crc32_ref(data)
    assert native.crc32(data[cut:], native.crc32(data[:cut])) == crc32_ref(data)


@fixture_ok
@given(sizes, st.integers(0, 300))
def test_prox1_matches_crcmod_and_chains(crc_path, data, cut):
    assert native.crc32_prox1(data) == prox1_ref(data)
    assert native.crc32_prox1(data[cut:], native.crc32_prox1(data[:cut])) == prox1_ref(data)


@settings(max_examples=60)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=6))
def test_modular_matches_cfdp_py_for_segments_in_any_order(tmp_path_factory, data, cuts):
    path = tmp_path_factory.mktemp("modular") / "file"
    path.write_bytes(data)
    expected = int.from_bytes(calc_modular_checksum(path), "big")
    edges = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    segments = list(zip(edges, edges[1:], strict=False))
    total = 0
    for start, end in reversed(segments):
        total = native.cfdp_modular(data[start:end], start, total)
    assert total == expected


@fixture_ok
@given(sizes, sizes)
def test_combined_crcs_are_the_crcs_of_the_joined_data(crc_path, a, b):
    """Each CRC of A then B, from the CRCs of A and B alone, against crcmod and crc32c."""
    joined = a + b
    assert native.crc32_combine(crc32_ref(a), crc32_ref(b), len(b)) == crc32_ref(joined)
    assert native.crc32_prox1_combine(prox1_ref(a), prox1_ref(b), len(b)) == prox1_ref(joined)
    assert native.crc32c_combine(
        crc32c_ref.crc32c(a), crc32c_ref.crc32c(b), len(b)
    ) == crc32c_ref.crc32c(joined)
