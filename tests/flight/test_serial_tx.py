"""The payload's transmit side of the bus line over a real pty: it never blocks, operational
telemetry overtakes file traffic, frames go out whole, and a line slower than the downlink share
delays files, never housekeeping (the cause of tm_dropped in real-time runs at x5 and x20)."""

from __future__ import annotations

import os
import select

import pytest

from flight import dictionary as d
from flight.controller import open_link
from flight.protocol.framing import Deframer, frame
from flight.protocol.messages import decode_telemetry
from flight.protocol.packets import parse_packet
from flight.serial_tx import SerialTransmitter
from hil.serial_link import PtyLink
from tests.flight.conftest import PayloadHarness, bus_tick_args


@pytest.fixture
def line():
    link = PtyLink.open()
    os.set_blocking(link.master_fd, False)
    port = open_link(link.slave_path, 115200)
    yield link, port
    port.close()
    link.close()


def read_all(fd: int) -> bytes:
    out = bytearray()
    while select.select([fd], [], [], 0.2)[0]:
        try:
            out += os.read(fd, 65536)
        except BlockingIOError:
            break
    return bytes(out)


def test_nothing_blocks_and_operational_frames_overtake_file_frames(line):
    link, port = line
    tx = SerialTransmitter(port)
    bulk = [frame(bytes([0x10 + i % 200]) * 1000) for i in range(200)]  # 200 kB: more than a pty
    for f in bulk:
        tx.send(f, bulk=True)  # would block on a blocking write once the pty is full
    assert tx.pending and not tx.clear and tx.stalls >= 1
    urgent = frame(b"HOUSEKEEPING" * 10)
    assert tx.send(urgent)
    received = bytearray()
    while tx.pending:
        received += read_all(link.master_fd)
        tx.pump()
    received += read_all(link.master_fd)
    frames = list(Deframer().feed(received))
    assert len(frames) == len(bulk) + 1  # every frame whole: none cut by a short write
    position = frames.index(b"HOUSEKEEPING" * 10)
    assert position < 80  # behind what the pty held when it was queued, not behind all 200
    assert [f for f in frames if f != b"HOUSEKEEPING" * 10] == [
        bytes([0x10 + i % 200]) * 1000 for i in range(200)
    ]
    assert tx.clear and tx.dropped == 0


def test_a_stop_with_the_bus_gone_loses_what_was_queued_and_goes_on(line):
    link, port = line
    tx = SerialTransmitter(port)
    for _ in range(100):  # more than the pty holds: some stays queued
        tx.send(frame(b"y" * 1000), bulk=True)
    assert tx.pending
    os.close(link.master_fd)  # the bus went away
    tx.flush(0.5)  # returns: the stop is not held up by a line that is gone


def test_operational_frames_beyond_the_limit_are_dropped_and_counted(line):
    link, port = line
    tx = SerialTransmitter(port, max_queued=4096)
    for _ in range(200):  # the bus stopped reading: the pty fills, then the queue
        tx.send(frame(b"x" * 500))
    assert tx.dropped > 0 and tx.pending
    read_all(link.master_fd)


def test_a_line_slower_than_the_share_delays_files_never_housekeeping(tmp_path):
    """A share of 500 kB a second into a pty that holds far less: the tick is answered without
    blocking, its housekeeping goes out ahead of the file data the line held back, nothing is
    dropped, and the rest of the second's share goes as the line drains."""
    tables = tmp_path / "state" / "tables"  # a downlink table on board: a 4 Mbit/s share
    tables.mkdir(parents=True)
    (tables / "downlink.toml").write_text(
        'table = "downlink"\nrate_bps = 4e6\nsegment_size = 1024\nmax_tries = 3\n'
    )
    p = PayloadHarness(tmp_path / "state")
    try:
        (tmp_path / "state" / "big.bin").write_bytes(os.urandom(600_000))
        p.command("DOWNLINK_FILE", {"path": "big.bin", "priority": 0})
        p.time += 1
        tick = p.tc(
            "BUS_TICK",
            bus_tick_args(p.time, link_in_s=0, link_s=600),
            source=d.SOURCE_BUS,
            ack=0,
        )
        p.send_bytes(frame(tick))  # the controller handles the tick; nobody reads the line yet
        assert p.ctl.downlink.link.held  # the line took less than the share: the rest waits
        assert p.ctl.tm.dropped == 0
        deframer = Deframer()
        packets = []
        while True:  # the bus reads; the controller's loop drains into the room it makes
            p.ctl.drain()
            chunk = read_all(p.link.master_fd)
            if not chunk and not p.ctl.tm.tx.pending:
                break
            packets += [decode_telemetry(parse_packet(raw)) for raw in deframer.feed(chunk)]
        names = [t.name for t in packets]
        hk = names.index("HOUSEKEEPING")
        before = sum(len(t.values["pdu"]) for t in packets[:hk] if t.name == "CFDP_PDU")
        after = sum(len(t.values["pdu"]) for t in packets[hk:] if t.name == "CFDP_PDU")
        assert before < 100_000 < after  # held back: it went on after the housekeeping
        assert p.ctl.tm.dropped == 0 and p.ctl.housekeeping.values()["tm_dropped"] == 0
        assert before + after > 450_000  # the second's share went, as the line drained
    finally:
        p.close()
