"""pytest plugin of the HIL bench: the ``hil`` fixture and the options that point it at a real
serial port. Installed with the package (entry point ``pytest11``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.bench import BenchConfig
from hil.testapi import HilBench


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware-in-the-loop bench")
    group.addoption(
        "--hil-port",
        default=None,
        help="a serial port (or pyserial URL) to a payload computer running the "
        "controller; default: a pty and a controller the bench starts",
    )
    group.addoption("--hil-baud", type=int, default=115_200, help="line rate (default 115200)")
    group.addoption(
        "--hil-keys",
        type=Path,
        default=None,
        help="with --hil-port or --hil-flight-vm: a directory with bus.toml and ground.toml "
        "matching the payload's key file",
    )
    group.addoption(
        "--hil-flight-vm",
        type=Path,
        default=None,
        metavar="DISK",
        help="boot this flight disk in QEMU as the payload computer (an engineering disk)",
    )
    group.addoption(
        "--hil-speed",
        default="max",
        help="bus seconds per wall second, or max for lockstep (default max)",
    )


@pytest.fixture
def hil(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HilBench]:
    """A bench for one test: the emulated bus and a ground station, and a payload controller
    (started here, on the far end of --hil-port, or in the VM of --hil-flight-vm)."""
    option = request.config.getoption
    speed = option("--hil-speed")
    config = BenchConfig(
        tmp_path / "hil",
        speed=None if speed == "max" else float(speed),
        baud=option("--hil-baud"),
        port=option("--hil-port"),
        keys=option("--hil-keys"),
        flight_vm=option("--hil-flight-vm"),
    )
    bench = HilBench(config).start()
    try:
        yield bench
    finally:
        report = bench.stop()
        if report.error:
            pytest.fail(f"bench: {report.error}")
