"""Interoperation with cfdp-py over real UDP sockets, in separate processes: our stand-alone
endpoints (python -m flight|ground cfdp ...) against bench/cfdppy_endpoint.py, both directions,
both classes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

PEER = Path(__file__).resolve().parents[2] / "bench" / "cfdppy_endpoint.py"
ENV = {**os.environ, "PYTHONSAFEPATH": "1"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ours(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def peer(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(PEER), *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, f"exit {proc.returncode}: {out}\n{err}"
    return out


@pytest.fixture
def payload(tmp_path) -> tuple[Path, bytes]:
    data = os.urandom(1_000_003)
    path = tmp_path / "results.bin"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("cfdp_class", ["1", "2"])
def test_we_send_cfdp_py_receives(tmp_path, payload, cfdp_class):
    path, data = payload
    port = free_port()
    rx = peer(
        "receive",
        "--listen",
        f"127.0.0.1:{port}",
        "--local-id",
        "2",
        "--out",
        str(tmp_path / "rx"),
        "--timeout",
        "60",
        cwd=tmp_path,
    )
    assert json.loads(rx.stdout.readline()) == {"listening": port}
    tx = ours(
        "-m",
        "flight",
        "cfdp",
        "send",
        str(path),
        "--link",
        f"udp://127.0.0.1:{port}",
        "--local-id",
        "1",
        "--remote-id",
        "2",
        "--class",
        cfdp_class,
        "--timeout",
        "60",
        "--json",
        cwd=tmp_path,
    )
    sent = json.loads(finish(tx))
    received = json.loads(finish(rx).splitlines()[-1])
    assert received["delivered"] and received["faults"] == []
    assert (tmp_path / "rx" / "results.bin").read_bytes() == data
    assert sent["condition"] == "NO_ERROR"
    assert sent["delivered"] == (cfdp_class == "2")  # class 2: confirmed by cfdp-py's Finished


@pytest.mark.parametrize("cfdp_class", ["1", "2"])
def test_cfdp_py_sends_we_receive(tmp_path, payload, cfdp_class):
    path, data = payload
    rx = ours(
        "-m",
        "ground",
        "cfdp",
        "receive",
        "--link",
        "udp://127.0.0.1:0",
        "--local-id",
        "2",
        "--out",
        str(tmp_path / "rx"),
        "--count",
        "1",
        "--timeout",
        "60",
        "--json",
        cwd=tmp_path,
    )
    port = json.loads(rx.stdout.readline())["listening"]
    tx = peer(
        "send",
        str(path),
        "--to",
        f"127.0.0.1:{port}",
        "--local-id",
        "1",
        "--remote-id",
        "2",
        "--class",
        cfdp_class,
        "--timeout",
        "60",
        cwd=tmp_path,
    )
    sent = json.loads(finish(tx).splitlines()[-1])
    received = json.loads(finish(rx))
    assert received["delivered"] and received["condition"] == "NO_ERROR"
    assert (tmp_path / "rx" / "results.bin").read_bytes() == data
    if cfdp_class == "2":
        assert sent["delivered"]  # our Finished, acknowledged, closed cfdp-py's transaction
