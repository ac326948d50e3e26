"""The Python fuzz targets (fuzz/targets.py) hold on their seed corpus and on random bytes, so
`make fuzz` always fuzzes working targets; the seeds are what the decoders accept."""

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "fuzz"))  # as fuzz/run.py has it: the targets import commanding
_spec = importlib.util.spec_from_file_location("fuzz_targets", REPO / "fuzz" / "targets.py")
targets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(targets)
CORPUS = REPO / "fuzz" / "corpus"


@pytest.fixture(scope="module", autouse=True)
def _close_the_commanding_driver():
    yield
    while targets._DRIVER:
        targets._DRIVER.pop().close()


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_every_seed_runs_clean(name):
    seeds = sorted(Path(CORPUS / name).iterdir())
    assert seeds, f"no seeds for {name}"
    for seed in seeds:
        targets.TARGETS[name](seed.read_bytes())


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
@given(data=st.binary(max_size=512))
def test_random_bytes_end_only_in_the_decoders_errors(name, data):
    targets.TARGETS[name](data)


def test_the_packet_seeds_decode_without_error():
    from flight.protocol.messages import decode_command, decode_telemetry
    from flight.protocol.packets import Telecommand, parse_packet

    for seed in sorted((CORPUS / "packets").iterdir()):
        packet = parse_packet(seed.read_bytes())
        decode = decode_command if isinstance(packet, Telecommand) else decode_telemetry
        decode(packet)  # a seed deep in the decoder, not one rejected at the door
