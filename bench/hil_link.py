"""Measures the bench's serial line emulation: how close its pacing comes to the 8N1 line rate,
and how many frames one injected byte fault costs.

Pacing: bulk data through hil.serial_line.SerialLine over a real pty, both directions, at each
baud rate; the rate is taken at the receiving end from first to last byte (median of runs).
Fault cost: streams of framed PUS packets, one fault injected at a random place, decoded by the
flight software's own deframer and CRC check; lost = packets not received intact.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time

import numpy as np

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import native  # noqa: E402
from flight.protocol.framing import Deframer, frame  # noqa: E402
from flight.protocol.packets import PacketError, parse_packet  # noqa: E402
from hil.serial_line import BITS_PER_BYTE, Direction, SerialLine  # noqa: E402
from hil.serial_link import PtyLink  # noqa: E402

SECONDS = 2.0


async def _pace(baud: int, downlink: bool) -> float:
    """Bytes per second seen at the receiving end of a paced transfer of SECONDS of line time."""
    link = PtyLink.open()
    os.set_blocking(link.slave_fd, False)
    size = int(baud / BITS_PER_BYTE * SECONDS)
    arrivals: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def got(n: int) -> None:
        arrivals.append((time.perf_counter(), n))
        if sum(k for _, k in arrivals) >= size and not done.done():
            done.set_result(None)

    line = SerialLine(link.master_fd, lambda data: got(len(data)), baud=baud, seed=0)
    line.start()
    try:
        if downlink:  # the payload writes everything at once; the line drains it at its rate
            data = b"\x55" * size
            sent = 0

            def write_more() -> None:
                nonlocal sent
                try:
                    sent += os.write(link.slave_fd, data[sent : sent + 65536])
                except BlockingIOError:
                    pass
                if sent >= size:
                    loop.remove_writer(link.slave_fd)

            loop.add_writer(link.slave_fd, write_more)
        else:

            def readable() -> None:
                try:
                    got(len(os.read(link.slave_fd, 65536)))
                except BlockingIOError:
                    pass

            loop.add_reader(link.slave_fd, readable)
            line.write(b"\x55" * size)
        await asyncio.wait_for(done, SECONDS * 5)
    finally:
        loop.remove_reader(link.slave_fd)
        loop.remove_writer(link.slave_fd)
        line.stop()
        link.close()
    first, last = arrivals[0][0], arrivals[-1][0]
    return (size - arrivals[0][1]) / (last - first)


def pacing(bauds: list[int], runs: int) -> list[dict]:
    rows = []
    for baud in bauds:
        for downlink in (False, True):
            rates = [asyncio.run(_pace(baud, downlink)) for _ in range(runs)]
            target = baud / BITS_PER_BYTE
            rate = statistics.median(rates)
            rows.append(
                {
                    "baud": baud,
                    "direction": "from payload" if downlink else "to payload",
                    "target_bytes_per_s": target,
                    "measured_bytes_per_s": rate,
                    "error_percent": 100 * (rate - target) / target,
                    "runs": runs,
                }
            )
    return rows


def _packets(rng: np.random.Generator, count: int) -> list[bytes]:
    return [
        native.pack_tm(
            apid=0x65,
            seq_count=i,
            service=3,
            subtype=25,
            msg_counter=i,
            dest_id=0x100,
            coarse_time=1_767_225_600 + i,
            fine_time=0,
            time_synced=True,
            data=rng.integers(0, 256, int(rng.integers(20, 200)), dtype=np.uint8).tobytes(),
        )
        for i in range(count)
    ]


def fault_cost(trials: int, seed: int) -> list[dict]:
    """Packets lost to one fault of each kind, over many random streams and positions."""
    rng = np.random.default_rng(seed)
    rows = []
    for kind in ("flip", "drop", "insert", "delimiter", "burst"):
        lost = []
        for _ in range(trials):
            packets = _packets(rng, 12)
            stream = b"".join(frame(p) for p in packets)
            side = Direction("test", np.random.default_rng(int(rng.integers(1 << 31))))
            side.inject(kind, 1 if kind != "burst" else 4)
            received = []
            deframer = Deframer()
            for raw in deframer.feed(side.apply(stream)):
                try:
                    parse_packet(raw)
                    received.append(raw)
                except PacketError:
                    pass
            lost.append(sum(1 for p in packets if p not in received))
        rows.append(
            {
                "fault": kind if kind != "burst" else "burst of 4 bytes",
                "trials": trials,
                "max_frames_lost": max(lost),
                "mean_frames_lost": statistics.mean(lost),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args()
    doc = {
        "pacing": pacing([115_200, 921_600], args.runs),
        "fault_cost": fault_cost(args.trials, seed=1),
    }
    print("Pacing (8N1, bytes/s at the receiving end, median of runs; target within 2%):")
    for r in doc["pacing"]:
        print(
            f"  {r['baud']:7d} baud {r['direction']:13} target {r['target_bytes_per_s']:9.0f} "
            f"measured {r['measured_bytes_per_s']:9.0f}  error {r['error_percent']:+.2f}%"
        )
    print("Frames lost to one injected fault (12-frame streams; target at most 2):")
    for r in doc["fault_cost"]:
        print(
            f"  {r['fault']:17} max {r['max_frames_lost']}  mean {r['mean_frames_lost']:.2f}"
            f"  over {r['trials']} trials"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(doc, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
