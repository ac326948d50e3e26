"""The default scenario end to end: real processes, a real pty, the ground station on loopback.

Every packet the bench recorded is read back with spacepackets (an independent PUS decoder) with
its CRC checked.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from spacepackets.ecss.tc import PusTc
from spacepackets.ecss.tm import PusTm

import native
from flight import dictionary as d
from native import uslp


def read_capture(path):
    """The packets of a capture file (every CRC checked) and its trailing octet count."""
    data = path.read_bytes()
    rows, trailing = native.scan_packets(data)
    assert rows["crc_ok"].all()
    return [data[r["offset"] : r["offset"] + r["length"]] for r in rows], trailing


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hil")
    proc = subprocess.run(
        [sys.executable, "-m", "hil", "run", "--out", "demo", "--speed", "5"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc, out / "demo"


def test_exits_zero_with_a_summary(run):
    proc, _ = run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout.splitlines()[0]
    assert "job demo-1: COMPLETED, exit 0" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_report_records_every_check_passing(run):
    _, out = run
    report = json.loads((out / "report.json").read_text())
    assert report["result"] == "pass" and report["error"] is None
    assert len(report["checks"]) >= 8 and all(c["passed"] for c in report["checks"])
    assert report["jobs"][0]["state"] == "COMPLETED"
    figures = report["figures"]
    assert figures["tm_bad"] == 0 and figures["ticks_unanswered"] == 0
    whats = [row["what"] for row in report["timeline"]]
    assert any(w.startswith("event JOB_COMPLETED") for w in whats)


def test_telemetry_file_decodes_with_spacepackets(run):
    _, out = run
    packets, rest = read_capture(out / "tm.bin")
    report = json.loads((out / "report.json").read_text())
    assert rest == 0 and len(packets) == report["figures"]["tm_packets"]
    kinds = set()
    for raw in packets:
        tm = PusTm.unpack(raw, timestamp_len=6)  # raises on a bad CRC
        assert tm.apid == d.APID_PAYLOAD
        assert (tm.service, tm.message_subtype) in d.TELEMETRY_BY_TYPE
        if tm.service == 5:
            assert int.from_bytes(tm.source_data[:2], "big") in d.EVENTS_BY_ID
        kinds.add((tm.service, tm.message_subtype))
    assert {(1, 1), (1, 2), (1, 7), (3, 25), (5, 1), (17, 2), (140, 3)} <= kinds


def test_telecommand_file_decodes_with_spacepackets(run):
    _, out = run
    packets, rest = read_capture(out / "tc.bin")
    assert rest == 0 and packets
    sources = {}
    for raw in packets:
        tc = PusTc.unpack(raw)  # raises on a bad CRC
        assert (tc.service, tc.message_subtype) in d.COMMANDS_BY_TYPE
        sources.setdefault(tc.source_id, []).append(tc.seq_count)
    assert set(sources) == {d.SOURCE_BUS, d.SOURCE_GROUND}
    for counts in sources.values():  # each sender numbers its own packets
        assert counts == list(range(len(counts)))


@pytest.mark.parametrize("after_s", [0.0, 0.02, 0.05, 0.1, 0.3])
def test_sigterm_stops_the_run_and_its_processes(tmp_path, after_s):
    """At any moment of the start-up (the station's port written, the client still greeting
    it, the bus clock starting): stopped cleanly, in one line, nothing left running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil", "run", "--out", "stopped", "--speed", "5"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    port_file = tmp_path / "stopped/station.port"
    deadline = time.monotonic() + 60
    while not port_file.is_file():
        assert proc.poll() is None and time.monotonic() < deadline, "the bench did not start"
        time.sleep(0.005)
    children = _children(proc.pid)
    assert len(children) == 2  # the controller and the ground station
    time.sleep(after_s)  # how long the run is let go on: not a wait for a condition
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.strip().endswith("hil: stopped"), err
    assert "Traceback" not in err
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], "left running"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # the parent's pid
            found.append(int(stat.parent.name))
    return found


def test_space_link_frames_are_kept_and_read_by_an_independent_decoder(run):
    """downlink.frames and uplink.frames hold the frames as sent (docs/icd.md section 18); every
    one decodes with spacepackets' USLP module, CRC checked, and the downlink's packets are the
    payload's own (tm.bin)."""
    from spacepackets.uslp.frame import (
        FixedFrameProperties,
        FrameType,
        TransferFrame,
        VarFrameProperties,
    )

    _, out = run
    down = (out / "downlink.frames").read_bytes()
    assert down and len(down) % 1115 == 0
    fixed = FixedFrameProperties(fixed_len=1115, has_insert_zone=False, has_fecf=True)
    vcs = set()
    for i in range(0, len(down), 1115):
        frame = TransferFrame.unpack(down[i : i + 1115], FrameType.FIXED, fixed)
        assert frame.header.scid == 161 and len(frame.op_ctrl_field) == 4
        vcs.add(frame.header.vcid)
    assert {0, 2} <= vcs  # realtime and files (the job's results)
    up = (out / "uplink.frames").read_bytes()
    variable = VarFrameProperties(has_insert_zone=False, has_fecf=True, truncated_frame_len=0)
    at, commands = 0, 0
    while at < len(up):
        length = int.from_bytes(up[at + 4 : at + 6], "big") + 1
        frame = TransferFrame.unpack(up[at : at + length], FrameType.VARIABLE, variable)
        assert frame.header.scid == 161 and frame.header.vcid in (0, 2)
        commands += frame.header.vcid == 0
        at += length
    assert at == len(up) and commands >= 2  # the ping and the job, at least

    scan = uslp.FrameScan(down, 1115)
    packets = b"".join(
        uslp.PacketUnpacker().feed(down, scan, [i for i, f in enumerate(scan) if f.vcid == vc])
        for vc in (0, 1, 2)
    )
    sent, _ = read_capture(out / "tm.bin")
    rows, _ = native.scan_packets(packets)
    carried = {packets[r["offset"] : r["offset"] + r["length"]] for r in rows if r["apid"] != 0x7FF}
    assert carried <= set(sent)  # the payload's own packets, and nothing else
    assert any(p[7:9] == bytes([17, 2]) for p in carried)  # the ping's report among them
