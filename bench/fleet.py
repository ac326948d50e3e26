"""Speed of a constellation on the HIL bench in lockstep: the shipped constellation-day scenario
(24 h, Walker planes at 1200 km, laser links from the geometry) run with 2, 4 and 8 satellites,
each satellite its own controller, bus and space link, all of them stepping through bus time on
one clock, against one ground station. Prints, per size, the wall time of the whole run (from
the bench's start to its last report), the speed factor (bus seconds per wall second) and the
satellite-seconds per wall second, with the ratio of each size's throughput to the smallest
size's (how the bench scales on this machine).

    python bench/fleet.py [--sizes 2,4,8] [--hours 24] [--json FILE]

Exits 1 when 8 satellites do not finish 24 h within 15 minutes (900 s of wall time), or a run
fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = Path(__file__).resolve().parent.parent / "hil" / "scenarios" / "constellation-day.toml"
TARGET_WALL_S = 900.0  # 8 satellites, 24 h


def variant(size: int, out: Path) -> Path:
    """constellation-day with ``size`` satellites: two planes of size/2 (one plane of one),
    phasing 1 (0 for single satellites in two planes, which 1 would put in one place)."""
    planes, per_plane = (2, size // 2) if size > 1 else (1, 1)
    text = SCENARIO.read_text()
    text = re.sub(r"(?m)^planes = \d+$", f"planes = {planes}", text)
    text = re.sub(r"(?m)^per_plane = \d+$", f"per_plane = {per_plane}", text)
    text = re.sub(r"(?m)^phasing = \d+$", f"phasing = {1 if per_plane > 1 else 0}", text)
    path = out / f"constellation-{size}.toml"
    path.write_text(text)
    return path


def run(size: int, hours: float, tmp: Path) -> dict:
    """One fleet run of ``size`` satellites for ``hours``; its figures."""
    out = tmp / f"fleet-{size}"
    command = [sys.executable, "-m", "hil", "run", str(variant(size, tmp)), "--out", str(out),
               "--until", f"{hours * 3600:.0f}"]  # fmt: skip
    t0 = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    verdict = json.loads((out / "fleet.json").read_text()) if (out / "fleet.json").exists() else {}
    bus_s = hours * 3600
    return {
        "size": size,
        "passed": done.returncode == 0 and bool(verdict.get("passed")),
        "wall_s": round(wall, 1),
        "bus_s": bus_s,
        "speed": round(bus_s / wall, 1),
        "satellite_s_per_s": round(size * bus_s / wall, 1),
        "topology_changes": verdict.get("topology_changes"),
        "tail": done.stdout[-400:] + done.stderr[-400:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,4,8", help="satellite counts, comma-separated")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"constellation-day in lockstep ({os.uname().machine}, {os.cpu_count()} cores), "
          f"{args.hours:g} h of bus time, one run per size")  # fmt: skip
    print(f"{'satellites':>10} {'wall s':>8} {'speed':>8} {'sat-s/s':>9} {'vs first':>9} "
          f"{'ISL changes':>12}  result")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            row = run(size, args.hours, Path(tmp))
            rows.append(row)
            ratio = row["satellite_s_per_s"] / rows[0]["satellite_s_per_s"]
            result = "pass" if row["passed"] else "FAILED: " + row["tail"]
            print(f"{size:>10} {row['wall_s']:>8.1f} {row['speed']:>7.1f}x "
                  f"{row['satellite_s_per_s']:>9.1f} {ratio:>8.2f}x "
                  f"{row['topology_changes']!s:>12}  {result}", flush=True)  # fmt: skip
    eight = next((r for r in rows if r["size"] == 8), None)
    missed = []
    if eight is not None and args.hours >= 24 and eight["wall_s"] > TARGET_WALL_S:
        missed.append(
            f"8 satellites took {eight['wall_s']:.0f} s for 24 h (target {TARGET_WALL_S:.0f} s)"
        )
    missed += [f"{r['size']} satellites: the run failed" for r in rows if not r["passed"]]
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "missed": missed}, indent=2) + "\n")
    for line in missed:
        print(f"MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
