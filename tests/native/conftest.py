"""Fixtures of the native core's tests."""

import pytest

import native


@pytest.fixture(params=native.crc_paths())
def crc_path(request):
    """Run the test on every CRC implementation this CPU can run, then restore the default."""
    default = native.crc_path()
    native.set_crc_path(request.param)
    yield request.param
    native.set_crc_path(default)
