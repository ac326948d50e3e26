"""The console in a real terminal: tmux runs ``python -m ground console`` against a running bench
(``python -m hil run``), the test types into it and reads the screen back."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from hil.bench import bench_token_file

TMUX = shutil.which("tmux") or "tmux"  # make test installs it


def _tmux(*args: str) -> str:
    return subprocess.run(
        [TMUX, *args], check=True, capture_output=True, text=True, timeout=30
    ).stdout


def _screen_until(session: str, wanted: str, timeout: float = 60.0) -> str:
    """The screen once it shows ``wanted`` (a regular expression)."""
    end = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < end:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if re.search(wanted, screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{wanted!r} never appeared on the screen:\n{screen}")


@pytest.fixture
def bench(tmp_path: Path):
    out = tmp_path / "bench"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil", "run", "nominal-day", "--speed", "5", "--out", str(out)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = out / "station.port"
        end = time.monotonic() + 60
        while not port_file.is_file():
            assert proc.poll() is None, "the bench stopped"
            assert time.monotonic() < end, "the bench's station did not start"
            time.sleep(0.1)
        address = f"127.0.0.1:{port_file.read_text().strip()}"
        yield address, bench_token_file(out)
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_console_in_tmux_against_a_running_bench(bench, tmp_path):
    session = f"console-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    address, token_file = bench
    command = f"{sys.executable} -m ground console --station {address} --token-file {token_file}"
    subprocess.run(
        [TMUX, "new-session", "-d", "-s", session, "-x", "160", "-y", "48", command],
        check=True,
        cwd=tmp_path,
        env=env | {"TERM": "xterm-256color"},
        timeout=30,
    )
    try:
        screen = _screen_until(session, "connected to the station")  # the message line
        screen = _screen_until(session, "space link UP")
        assert "UTC 20" in screen and "Telemetry" in screen
        _screen_until(session, "on board 2026")  # housekeeping has arrived
        # the table is drawn on the console's next refresh, after the status line
        _screen_until(session, r"uptime_s\s+[1-9][0-9]* s")
        _tmux("send-keys", "-t", session, "NOOP", "Enter")
        _tmux("send-keys", "-t", session, "F3")
        screen = _screen_until(session, "sent NOOP")
        screen = _screen_until(session, r"NOOP\s+completed")
        _tmux("send-keys", "-t", session, "FROB", "Enter")
        screen = _screen_until(session, r"no command 'FROB'")
        assert "Traceback" not in screen
    finally:
        subprocess.run([TMUX, "kill-session", "-t", session], capture_output=True, timeout=30)
