"""Telecommands through COP-1 on the bench's space link, end to end: the real controller and
ground station as processes, the bus in real time (a bus second is a wall second, as COP-1's
timer T1 is meant), a radio that loses each frame (up and down) with a probability. N NOOP
commands are sent through the station as fast as it takes them; the run ends when FOP-1 has
every one acknowledged by the spacecraft's FARM-1. Then the payload's
own record of what crossed its serial line (tc.bin) must hold each of the N exactly once, in
the order sent. Measured at 0% loss and at the target's 5%, in one run, each in seconds.

    python bench/cop1.py [--commands 1000] [--loss 0.05] [--json FILE]

Prints the times and their ratio (5% over 0%). Exits 1 when a command is lost, repeated or out
of order, or when FOP-1 gives up on any.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from flight import dictionary as d  # noqa: E402
from hil.bench import Bench, BenchConfig, run_bench  # noqa: E402
from hil.radio import RadioConfig  # noqa: E402
from native import scan_packets  # noqa: E402

NOOP = d.COMMANDS_BY_NAME["NOOP"]
RADIO_BPS = 10e6


async def _send_all(bench: Bench, commands: int, result: dict) -> None:
    client = bench.client
    before = (await client.cop1())[0]["fop"].get("ad_acknowledged", 0)
    t_bus, t_wall = bench.bus.clock.time, time.monotonic()
    sent = [await client.send("NOOP") for _ in range(commands)]
    while True:
        (cop1,) = await client.cop1()
        acknowledged = cop1["fop"].get("ad_acknowledged", 0) - before
        if cop1["state"] not in ("active", "retransmit", "retransmit_wait"):
            result["gave_up"] = cop1["describe"]
            break
        if acknowledged >= commands and not cop1["sent"] and not cop1["waiting"]:
            break
        await asyncio.sleep(0.05)
    result |= {
        "bus_s": bench.bus.clock.time - t_bus,
        "wall_s": time.monotonic() - t_wall,
        "request_ids": [r.hex() for r in sent],
        "fop": cop1["fop"],
        "farm": dict(bench.bus.radio.link.farm.counters),
        "channels": cop1["channels"],
    }


def _noops_on_the_line(tc_log: bytes) -> list[str]:
    """The request ids (packet id and sequence control) of the NOOPs the payload was sent, in
    the order they crossed its serial line."""
    rows, _ = scan_packets(tc_log)
    out = []
    for row in rows:
        start = int(row["offset"])
        packet = tc_log[start : start + int(row["length"])]
        if (packet[7], packet[8]) == (NOOP.service, NOOP.subtype):
            out.append(packet[:4].hex())
    return out


def measure(commands: int, loss: float, out: Path) -> dict:
    result: dict = {"loss": loss}
    # The same emulated radio both times (a rate far above what the commands need), so that 0%
    # differs from 5% only in the losses: frames cross it on the tick of the second they arrive.
    radio = RadioConfig(rate_bps=RADIO_BPS, loss=loss)
    config = BenchConfig(out, speed=1.0, seed=21, radio=radio, wall_limit_s=1800)
    report = asyncio.run(run_bench("cop1", lambda b: _send_all(b, commands, result), config))
    if report.error is not None:
        result["gave_up"] = report.error
    on_the_line = _noops_on_the_line((out / "tc.bin").read_bytes())
    result["delivered_in_order_once"] = on_the_line == result.get("request_ids")
    result["delivered"] = len(on_the_line)
    result["distinct"] = len(set(on_the_line))
    result.pop("request_ids", None)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--loss", type=float, default=0.05)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            measure(args.commands, loss, Path(tmp) / f"loss-{loss}") for loss in (0.0, args.loss)
        ]
    print(f"{args.commands} NOOPs through COP-1 (bench in real time, real controller and station):")
    ok = True
    for r in runs:
        good = r["delivered_in_order_once"] and "gave_up" not in r
        ok &= good
        print(
            f"  frame loss {r['loss']:.0%}: {r['delivered']} on the payload's line, "
            f"{r['distinct']} distinct, in order once: {r['delivered_in_order_once']}; "
            f"{r['bus_s']:.0f} bus s, {r['wall_s']:.1f} s; frames sent again "
            f"{r['fop'].get('ad_sent_again', 0)}, FARM discarded "
            f"{sum(v for k, v in r['farm'].items() if 'discarded' in k)}"
            + (f"; GAVE UP: {r['gave_up']}" if "gave_up" in r else "")
        )
    base, lossy = runs
    if base["bus_s"] and "bus_s" in lossy:
        print(f"  {lossy['loss']:.0%} over 0%: x{lossy['wall_s'] / base['wall_s']:.2f} in time")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
