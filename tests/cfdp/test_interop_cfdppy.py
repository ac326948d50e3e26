"""Interoperation with cfdp-py over real UDP sockets, in separate processes: our stand-alone
endpoints (python -m flight|ground cfdp ...) against bench/cfdppy_endpoint.py, both directions,
both classes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cfdp.processes import listening, output_lines, run

PEER = Path(__file__).resolve().parents[2] / "bench" / "cfdppy_endpoint.py"


def finish(proc: subprocess.Popen) -> dict:
    """The last JSON line of a process that must succeed."""
    return json.loads(output_lines(proc, 90)[-1])


@pytest.fixture
def payload(tmp_path) -> tuple[Path, bytes]:
    data = os.urandom(1_000_003)
    path = tmp_path / "results.bin"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("cfdp_class", ["1", "2"])
def test_we_send_cfdp_py_receives(tmp_path, payload, cfdp_class):
    path, data = payload
    rx = run(
        [
            str(PEER),
            *"receive --listen 127.0.0.1:0 --local-id 2 --timeout 60".split(),
            "--out",
            str(tmp_path / "rx"),
        ],
        tmp_path,
    )
    line = f"-m flight cfdp send --link udp://127.0.0.1:{listening(rx)} --local-id 1 --remote-id 2"
    tx = run(
        [*line.split(), "--class", cfdp_class, "--timeout", "60", "--json", str(path)], tmp_path
    )
    sent, received = finish(tx), finish(rx)
    assert received["delivered"] and received["faults"] == []
    assert (tmp_path / "rx" / "results.bin").read_bytes() == data
    assert sent["condition"] == "NO_ERROR"
    assert sent["delivered"] == (cfdp_class == "2")  # class 2: confirmed by cfdp-py's Finished


@pytest.mark.parametrize("cfdp_class", ["1", "2"])
def test_cfdp_py_sends_we_receive(tmp_path, payload, cfdp_class):
    path, data = payload
    line = "-m ground cfdp receive --link udp://127.0.0.1:0 --local-id 2 --count 1 --json"
    rx = run([*line.split(), "--timeout", "60", "--out", str(tmp_path / "rx")], tmp_path)
    line = f"send --to 127.0.0.1:{listening(rx)} --local-id 1 --remote-id 2 --timeout 60"
    tx = run([str(PEER), *line.split(), "--class", cfdp_class, str(path)], tmp_path)
    sent, received = finish(tx), finish(rx)
    assert received["delivered"] and received["condition"] == "NO_ERROR"
    assert (tmp_path / "rx" / "results.bin").read_bytes() == data
    if cfdp_class == "2":
        assert sent["delivered"]  # our Finished, acknowledged, closed cfdp-py's transaction


def test_class_1_at_the_default_settings_does_not_overrun_cfdp_py(tmp_path):
    """Class 1 has nothing to repair a loss with: unless told a rate, our sender paces itself
    (20 Mbit/s, never more than 2 ms of it back to back), and cfdp-py, with the system's own
    socket buffers as a program that sets none has them, receives every 2.5 MB file intact.
    Unpaced, or in bursts of the old 256 KiB, it lost octets of every one."""
    for n in range(3):
        data = os.urandom(2_500_000)
        path = tmp_path / f"run{n}.bin"
        path.write_bytes(data)
        rx = run(
            [str(PEER), *"receive --listen 127.0.0.1:0 --local-id 2 --timeout 60".split(),
             "--system-buffers", "--out", str(tmp_path / "rx")],
            tmp_path,
        )  # fmt: skip
        line = f"-m flight cfdp send --link udp://127.0.0.1:{listening(rx)} --local-id 1"
        tx = run([*line.split(), "--remote-id", "2", "--class", "1", "--json", str(path)], tmp_path)
        out, err = tx.communicate(timeout=90)
        assert tx.returncode == 0, err
        received = finish(rx)
        assert received["delivered"] and received["faults"] == [], received
        assert (tmp_path / "rx" / path.name).read_bytes() == data
        assert json.loads(out.splitlines()[-1])["condition"] == "NO_ERROR"
        assert err.strip() == (
            "flight cfdp: class 1 paced at 20 Mbit/s, the default; for a receiver that keeps up "
            "with more, give --link udp://HOST:PORT?rate=BITS_PER_S"
        )


def test_a_name_from_the_senders_virtual_file_store_root_lands_in_ours(tmp_path, payload):
    """cFS CF and LibreCube users name files from their virtual file store's root
    (``/cf/...``, ``/payload.bin``): our receiver takes the leading slash as its store's root."""
    path, data = payload
    line = "-m ground cfdp receive --link udp://127.0.0.1:0 --local-id 2 --count 1 --json"
    rx = run([*line.split(), "--timeout", "60", "--out", str(tmp_path / "rx")], tmp_path)
    line = f"send --to 127.0.0.1:{listening(rx)} --local-id 1 --remote-id 2 --timeout 60"
    tx = run([str(PEER), *line.split(), "--dest-name", "/cf/down/payload.bin", str(path)], tmp_path)
    sent, received = finish(tx), finish(rx)
    assert received["delivered"] and received["dest_name"] == "/cf/down/payload.bin"
    assert received["path"] == str((tmp_path / "rx" / "cf" / "down" / "payload.bin").resolve())
    assert (tmp_path / "rx" / "cf" / "down" / "payload.bin").read_bytes() == data
    assert sent["delivered"]
