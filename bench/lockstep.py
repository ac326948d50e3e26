"""Lockstep speed of the HIL bench: the shipped scenarios run with the bus ticking as fast as
the controller answers (python -m hil run SCENARIO --speed max), every tick across a real pty
both ways and answered by a housekeeping report, with the real controller and ground station as
processes of their own. Prints bus seconds, wall seconds and the speed factor (bus seconds per
wall second) from each run's report, medians of the runs.

    python bench/lockstep.py [SCENARIO ...] [--runs 3] [--json FILE]

Exits 1 when nominal-day (24 h, 15 orbits, 36 jobs) runs below 1000x, or a run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TARGETS = {"nominal-day": 1000.0}  # the least speed factor, bus s per wall s
DEFAULT = ("nominal-day", "eclipse-stress", "link-degradation", "thermal-stress")


def run(scenario: str, out: Path) -> dict:
    """One lockstep run; its report's figures."""
    command = [sys.executable, "-m", "hil", "run", scenario, "--speed", "max", "--out", str(out)]
    subprocess.run(command, cwd=out.parent, capture_output=True, check=False)
    report = json.loads((out / "report.json").read_text())
    figures = report["figures"]
    return {
        "result": report["result"],
        "bus_s": figures["sim_seconds"],
        "wall_s": figures["wall_seconds"],
        "speed": figures["wall_speed_factor"],
        "figures": figures,  # the rest of the report's figures, for docs/performance.md
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=list(DEFAULT))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rows, failed = {}, []
    print(f"HIL bench in lockstep ({os.uname().machine}, {os.cpu_count()} cores), medians")
    print(f"{'scenario':18} {'bus s':>8} {'wall s':>8} {'speed':>8}   runs   target")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scenarios:
            runs = [run(name, Path(tmp) / f"{name}-{i}") for i in range(args.runs)]
            speed = statistics.median(r["speed"] for r in runs)
            wall = statistics.median(r["wall_s"] for r in runs)
            target = TARGETS.get(name)
            held = target is None or speed >= target
            if not held or any(r["result"] != "pass" for r in runs):
                failed.append(name)
            rows[name] = {"runs": runs, "speed": speed, "wall_s": wall, "target": target}
            speeds = " ".join(f"{r['speed']:.0f}" for r in runs)
            verdict = "" if target is None else f">= {target:g}x: {'held' if held else 'MISSED'}"
            bus_s = runs[0]["bus_s"]
            print(f"{name:18} {bus_s:8.0f} {wall:8.1f} {speed:7.0f}x   {speeds}   {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    for name in failed:
        print(f"target missed or run failed: {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
