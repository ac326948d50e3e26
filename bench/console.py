"""Benchmark of the operator console: can it keep up with 1 000 telemetry channels at 10 Hz?

A packet kind of N channels (half f32 with limits on every tenth, half u32) is fed to the console
at R packets per second in wall time, each packet decoded and ingested as the station feed does,
while the console (Textual, headless, 200x60) redraws. Measured per packet: how late it was
ingested after it was due (the event loop's lag, which grows without bound once the console falls
behind: it keeps up while the worst lag stays under half a second); at the end, whether the
screen shows the last packet's values within two redraws; and the process's CPU share. Side by
side, in the same run: the same screen updating every cell of the table on every packet, as a
generic packet viewer does (our console redraws only the rows on screen that changed, a few times
a second). Medians of several runs per rate; a side that falls behind at one rate is not
run at higher ones.

    .venv/bin/python bench/console.py [--channels 1000] [--rates 10,20,50,100,200] [--seconds 10]
        [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable

from flight import dictionary as d
from flight.protocol.fields import Field, Limits, pack_fields, unpack_fields
from flight.protocol.messages import DecodedTelemetry
from flight.protocol.packets import build_tm, parse_packet
from ground.console.app import REFRESH_S, Console
from ground.console.model import Model

T0 = 1_795_000_000.0
MAX_LAG_MS = 500.0


def wide_kind(channels: int) -> d.TelemetryPacket:
    fields = []
    for i in range(channels):
        if i % 2:
            fields.append(Field(f"ch{i:04d}", "u32", "", f"counter {i}"))
        else:
            limits = Limits(yellow_high=80.0, red_high=95.0) if i % 10 == 0 else None
            fields.append(Field(f"ch{i:04d}", "f32", "C", f"temperature {i}", limits=limits))
    return d.TelemetryPacket("WIDE", 3, 26, "a wide housekeeping report", tuple(fields))


def packets(kind: d.TelemetryPacket, count: int, rate: float) -> list[bytes]:
    out = []
    for n in range(count):
        values = {
            f.name: (n % 100 + i / 1000 if f.type == "f32" else n + i)
            for i, f in enumerate(kind.fields)
        }
        out.append(
            build_tm(
                d.APID_PAYLOAD,
                n & 0x3FFF,
                kind.service,
                kind.subtype,
                pack_fields(kind.fields, values),
                msg_counter=n & 0xFFFF,
                dest_id=d.SOURCE_GROUND,
                time=T0 + n / rate,
                time_synced=True,
            )
        )
    return out


class _Quiet:
    """No station: the bench feeds the model itself."""

    client = None

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def send(self, request: object) -> None:
        raise RuntimeError("the benchmark sends nothing")


async def feed(kind: d.TelemetryPacket, raw: list[bytes], rate: float, naive: bool) -> dict:
    model = Model(kinds=[kind])
    app = Console(model, _Quiet())
    lags = []
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause(0.5)
        table = app.query_one("#table-WIDE", DataTable)
        loop = asyncio.get_running_loop()
        cpu0, start = time.process_time(), loop.time() + 0.1
        for n, packet in enumerate(raw):
            due = start + n / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            lags.append(loop.time() - due)
            tm = parse_packet(packet)
            model.ingest(
                DecodedTelemetry(kind.name, unpack_fields(kind.fields, tm.source_data), tm)
            )
            if naive:  # every cell, every packet
                for c in model.pages["WIDE"]:
                    table.update_cell(c.key, "value", Text(c.text()))
                await asyncio.sleep(0)
        busy = (time.process_time() - cpu0) / (loop.time() - start)
        await pilot.pause(2 * REFRESH_S + 0.05)
        last = model.pages["WIDE"][-1]
        shown = str(table.get_cell(last.key, "value")).removesuffix(" (stale)")
        caught_up = shown == last.text()
    lags.sort()
    return {
        "lag_median_ms": 1000 * lags[len(lags) // 2],
        "lag_p99_ms": 1000 * lags[int(len(lags) * 0.99)],
        "lag_max_ms": 1000 * lags[-1],
        "cpu_share": busy,
        "caught_up": caught_up,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--rates", default="10,20,50,100,200")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    kind = wide_kind(args.channels)
    rates = [float(r) for r in args.rates.split(",")]
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}"
    )
    print(
        f"Console, {args.channels} channels per packet, {args.seconds:g} s per run, "
        f"{args.repeat} runs per rate (medians); packet lag in ms, CPU share of one core:"
    )
    results: dict[str, dict[str, dict]] = {"ours": {}, "every-cell": {}}
    for rate in rates:
        raw = packets(kind, int(rate * args.seconds), rate)
        for name, naive in (("ours", False), ("every-cell", True)):
            if any(not r["keeps_up"] for r in results[name].values()):
                print(f"  {rate:5g} Hz {name:10} not run: behind at a lower rate already")
                continue
            runs = [asyncio.run(feed(kind, raw, rate, naive)) for _ in range(args.repeat)]
            summary = {
                k: statistics.median(r[k] for r in runs)
                for k in ("lag_median_ms", "lag_p99_ms", "lag_max_ms", "cpu_share")
            }
            summary["caught_up"] = all(r["caught_up"] for r in runs)
            # Behind, a backlog builds and lag grows by the second; half a second is the bound.
            summary["keeps_up"] = summary["caught_up"] and summary["lag_max_ms"] < MAX_LAG_MS
            results[name][f"{rate:g}"] = summary
            print(
                f"  {rate:5g} Hz ({rate * args.channels:8.0f} channels/s) {name:10} "
                f"lag median {summary['lag_median_ms']:7.1f} p99 {summary['lag_p99_ms']:8.1f} "
                f"max {summary['lag_max_ms']:8.1f}  cpu {summary['cpu_share']:.2f}  "
                f"{'keeps up' if summary['keeps_up'] else 'FALLS BEHIND'}"
            )
    for name in results:
        held = [r for r, s in results[name].items() if s["keeps_up"]]
        best = max((float(r) for r in held), default=0.0)
        results[name]["highest_rate_kept_up"] = best
        print(f"  {name}: keeps up to {best:g} Hz ({best * args.channels:.0f} channels/s)")
    ours_best = results["ours"]["highest_rate_kept_up"]
    naive_best = results["every-cell"]["highest_rate_kept_up"]
    if naive_best:
        print(f"  ours / every-cell (highest rate kept up): {ours_best / naive_best:.1f}x")
    target = results["ours"].get("10", {}).get("keeps_up", False)
    print(f"  target 1000 channels at 10 Hz: {'held' if target else 'NOT held'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
