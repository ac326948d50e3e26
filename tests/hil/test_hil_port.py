"""The same bench tests against a serial port, with the controller on the far end of a cable:
here two ptys joined by socat stand in for a null-modem cable to a payload computer."""

import shutil
import subprocess
import sys
import time

import pytest

from flight.security.keys import provision_keys

INNER = """
def test_ping_over_the_port(hil):
    hil.send_command("PING")
    hil.await_telemetry("PING_REPORT")


def test_rejection_over_the_port(hil):
    hil.assert_command_rejected("SUBMIT_JOB", {"manifest": {"id": "-bad"}},
                                failure="MANIFEST_INVALID")
"""


@pytest.fixture
def cable(tmp_path):
    socat = shutil.which("socat")
    assert socat, "socat is installed by make test (Debian package socat)"
    payload, bench = tmp_path / "payload-tty", tmp_path / "bench-tty"
    proc = subprocess.Popen(
        [socat, f"pty,raw,echo=0,link={payload}", f"pty,raw,echo=0,link={bench}"]
    )
    deadline = time.monotonic() + 10
    while not (payload.exists() and bench.exists()):
        assert time.monotonic() < deadline, "socat did not create the ptys"
        time.sleep(0.01)
    yield payload, bench
    proc.terminate()
    proc.wait(10)


def test_bench_tests_run_against_a_serial_port(tmp_path, cable):
    payload, bench = cable
    (tmp_path / "state" / "bin").mkdir(parents=True)
    keys = provision_keys(tmp_path / "keys")  # the payload holds flight.toml, the bench the rest
    flight = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flight",
            "run",
            "--bus",
            str(payload),
            "--state-dir",
            str(tmp_path / "state"),
            "--keys",
            str(keys.flight),
            "--allow-root-jobs",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (tmp_path / "test_inner.py").write_text(INNER)
    try:
        inner = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--hil-port",
                str(bench),
                "--hil-speed",
                "max",
                "--hil-keys",
                str(tmp_path / "keys"),
                "test_inner.py",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        flight.terminate()
        flight.wait(10)
    assert inner.returncode == 0, inner.stdout + inner.stderr
    assert "2 passed" in inner.stdout
