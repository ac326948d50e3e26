"""Interoperation with LibreCube's ``cfdp``, a second CFDP implementation independent of ours and
of cfdp-py, over real UDP sockets in separate processes: our stand-alone endpoints against
bench/librecube_endpoint.py, both directions, both classes, names from a virtual file store's
root and relative ones, files over 1 MB. Each test ends with the file intact and the transaction
closed on both sides: ours reports it, and LibreCube's entity issued its Transaction-Finished
indication without a fault.

LibreCube's entity answers with a one-octet transaction sequence number and the direction bit of
the PDUs it answers, and checks files with the modular checksum whatever the Metadata PDU names
(docs/downlink.md, Peers): our sender is given ``--seq-len 1 --checksum modular``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cfdp.processes import listening, output_lines, run

PEER = Path(__file__).resolve().parents[2] / "bench" / "librecube_endpoint.py"
LIBRECUBE = ["--seq-len", "1", "--checksum", "modular"]


def finish(proc: subprocess.Popen) -> list[str]:
    return output_lines(proc, 150)


def free_port() -> int:
    """A UDP port free now on the loopback interface: LibreCube binds a fixed address and
    answers one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def payload(tmp_path) -> tuple[Path, bytes]:
    data = os.urandom(1_200_007)
    path = tmp_path / "tx" / "results.bin"
    path.parent.mkdir()
    path.write_bytes(data)
    return path, data


def closed_by_librecube(line: str) -> dict:
    result = json.loads(line)
    assert result["ended"], result
    assert result["faults"] == [], result
    assert result["condition"] == "NO_ERROR", result
    return result


@pytest.mark.parametrize(
    "cfdp_class, dest_name, stored",
    [("2", "results.bin", "results.bin"), ("1", "/results.bin", "results.bin")],
)
def test_we_send_librecube_receives(tmp_path, payload, cfdp_class, dest_name, stored):
    path, data = payload
    ours, theirs = free_port(), free_port()
    rx = run(
        [str(PEER), "receive", "--listen", f"127.0.0.1:{theirs}", "--to", f"127.0.0.1:{ours}"]
        + ["--local-id", "2", "--timeout", "120", "--out", str(tmp_path / "rx")],
        tmp_path,
    )
    port = listening(rx)
    tx = run(
        ["-m", "flight", "cfdp", "send", str(path), "--link", f"udp://127.0.0.1:{port}"]
        + ["--bind", f"127.0.0.1:{ours}", "--local-id", "1", "--remote-id", "2"]
        + ["--class", cfdp_class, "--dest-name", dest_name, "--timeout", "120", *LIBRECUBE],
        tmp_path,
    )
    sent = finish(tx)
    verdict = "delivered" if cfdp_class == "2" else "sent (class 1: unconfirmed)"
    assert sent[-1].endswith(f"({len(data)} octets): {verdict}"), sent
    assert closed_by_librecube(finish(rx)[-1])["delivered"]
    assert (tmp_path / "rx" / stored).read_bytes() == data


@pytest.mark.parametrize(
    "cfdp_class, dest_name, stored",
    [("2", "/cf/down/results.bin", "cf/down/results.bin"), ("1", "results.bin", "results.bin")],
)
def test_librecube_sends_we_receive(tmp_path, payload, cfdp_class, dest_name, stored):
    path, data = payload
    rx = run(
        ["-m", "ground", "cfdp", "receive", "--link", "udp://127.0.0.1:0", "--json"]
        + ["--local-id", "2", "--count", "1", "--timeout", "120", "--out", str(tmp_path / "rx")],
        tmp_path,
    )
    port = listening(rx)
    tx = run(
        [str(PEER), "send", str(path), "--listen", f"127.0.0.1:{free_port()}"]
        + ["--to", f"127.0.0.1:{port}"]
        + ["--local-id", "1", "--remote-id", "2", "--class", cfdp_class]
        + ["--dest-name", dest_name, "--timeout", "120"],
        tmp_path,
    )
    sent = closed_by_librecube(finish(tx)[-1])
    assert sent["delivered"] is (True if cfdp_class == "2" else None)
    received = json.loads(finish(rx)[-1])
    assert received["delivered"] and received["condition"] == "NO_ERROR", received
    assert received["size"] == len(data)
    assert (tmp_path / "rx" / stored).read_bytes() == data
