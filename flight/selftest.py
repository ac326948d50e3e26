"""The flight software's self-test (``python -m flight selftest [--json]``): run on the payload
computer after an install, and by a new version on trial before it reports healthy. It checks that
every module imports (the install is whole, its dependencies present), that the native core gives
the right checksums on every CPU path this processor has, that the state store works on the state
directory's filesystem, that the serial port opens (or, without one named, that a pty carries a
frame), and that the GPU backend answers."""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

CHECK = b"123456789"  # the CRC catalogue's check input
CHECK_VALUES = {"crc16": 0x29B1, "crc32c": 0xE3069283, "crc32": 0xCBF43926}


class CheckFailed(Exception):
    """A check found something wrong; the message says what."""


@dataclass(frozen=True)
class Result:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str


def check_modules() -> str:
    """Every module of the flight software imports."""
    import flight

    names = [m.name for m in pkgutil.walk_packages(flight.__path__, "flight.")]
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an import can fail in any way; each is reported
            failed.append(f"{name}: {exc}")
    if failed:
        raise CheckFailed("; ".join(failed))
    return f"{len(names) + 1} modules"


def check_native() -> str:
    """Every CRC path this CPU has agrees with the catalogue and with the portable path."""
    import native

    sample = bytes(range(256)) * 67 + b"\x5a" * 13  # lengths past every fold width
    before = native.crc_path()
    try:
        native.set_crc_path("portable")
        reference = [f(sample[i:]) for f in _crcs() for i in range(16)]
        for path in native.crc_paths():
            native.set_crc_path(path)
            for name, expected in CHECK_VALUES.items():
                if getattr(native, name)(CHECK) != expected:
                    raise CheckFailed(f"{name} on the {path} path: wrong check value")
            if [f(sample[i:]) for f in _crcs() for i in range(16)] != reference:
                raise CheckFailed(f"the {path} path disagrees with the portable one")
    finally:
        native.set_crc_path(before)
    packet = bytes(range(1, 200)) + b"\x00" * 3
    if native.cobs_decode(native.cobs_encode(packet)) != packet:
        raise CheckFailed("COBS does not give back what it framed")
    return f"CRC paths {', '.join(native.crc_paths())} (in use: {before}); COBS"


def _crcs() -> list[Callable[[bytes], int]]:
    import native

    return [native.crc16, native.crc32c, native.crc32, native.crc32_prox1]


def check_state(state_dir: Path) -> str:
    """The job store and the security state write, sync and read back in the state directory."""
    from flight.jobs.store import JobStore, StoreError
    from flight.security.replay import SecurityState

    state_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".selftest-", dir=state_dir))
    try:
        JobStore(work / "jobs.sqlite").close()
        first = SecurityState(work / "security.state", reserve=0)  # a write for the number
        first.accept(7, 12345)
        first.close()
        again = SecurityState(work / "security.state", reserve=0)
        read_back = again.last_seq(7)
        again.close()
        if read_back != 12345:
            raise CheckFailed("the security state did not read back what was written")
        if JobStore(work / "jobs.sqlite").next_seq() != 1:
            raise CheckFailed("the job store did not open empty")
    except (StoreError, OSError) as exc:
        raise CheckFailed(f"{state_dir}: {exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return f"{state_dir}: job store and security state written and read back"


def check_serial(bus: str | None, baud: int) -> str:
    """The named port opens (nothing is written to it); without one, a frame crosses a pty."""
    import serial

    from flight.controller import open_link
    from flight.protocol.framing import Deframer, frame

    if bus is not None:
        try:
            open_link(bus, baud).close()
        except (serial.SerialException, ValueError) as exc:
            raise CheckFailed(f"{bus}: {exc}") from None
        return f"{bus} opens at {baud} baud"
    controller_end, bus_end = os.openpty()
    try:
        link = open_link(os.ttyname(bus_end), baud)
        try:
            os.write(controller_end, frame(b"selftest"))
            frames = Deframer().feed(link.read(64))
        finally:
            link.close()
    finally:
        os.close(controller_end)
        os.close(bus_end)
    if frames != [b"selftest"]:
        raise CheckFailed(f"a frame sent through a pty came back as {frames!r}")
    return "no port named: a COBS frame crossed a pty"


def check_gpu(kind: str) -> str:
    """The GPU backend opens and reads."""
    from flight.gpu.choice import open_gpu

    try:
        gpu, opened = open_gpu(kind)
    except SystemExit as exc:
        raise CheckFailed(str(exc)) from None
    if gpu is None:
        return f"no GPU backend ({kind})"
    reading = gpu.read()
    return (
        f"{opened}: {reading.power_w:.0f} W of {reading.power_limit_w:.0f} W, "
        f"{reading.temperature_c:.0f} C"
    )


def run_selftest(state_dir: Path, bus: str | None, baud: int, gpu: str) -> list[Result]:
    """Run every check; their results in order."""
    checks: list[tuple[str, Callable[[], str]]] = [
        ("modules", check_modules),
        ("native", check_native),
        ("state", lambda: check_state(state_dir)),
        ("serial", lambda: check_serial(bus, baud)),
        ("gpu", lambda: check_gpu(gpu)),
    ]
    results = []
    for name, check in checks:
        try:
            results.append(Result(name, True, check()))
        except CheckFailed as exc:
            results.append(Result(name, False, str(exc)))
    return results


def report(results: list[Result], as_json: bool, version: str) -> str:
    """The report, for people or (JSON) for machines."""
    ok = all(r.ok for r in results)
    if as_json:
        import json

        return json.dumps({"ok": ok, "version": version, "checks": [asdict(r) for r in results]})
    lines = [f"{'ok  ' if r.ok else 'FAIL'}  {r.name:<8} {r.detail}" for r in results]
    return "\n".join([f"flight {version} self-test", *lines, "passed" if ok else "FAILED"])
