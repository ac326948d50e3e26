"""Energy-aware scheduling against the same scheduler without eclipse predictions: every shipped
scenario of one spacecraft (a constellation's is bench/fleet.py's) run twice on the HIL bench in
lockstep (python -m hil run SCENARIO, once with --no-eclipse-predictions), same seed, same
battery floor. Prints GPU work done by the deadlines (full-power GPU seconds per day), jobs done
by their deadlines, and the ratio. Exits 1 when a target is missed: eclipse-stress at 1.2x or
more, and no scenario below 1.0x.

Lockstep runs are deterministic for a seed, so one run per side is the figure (no medians).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from hil.scenario import load_scenario, shipped  # noqa: E402

# scenario -> the least ratio of work done by the deadlines, energy-aware to no predictions
# (every other scenario: never less, 1.0)
TARGETS = {"eclipse-stress": 1.2}
FIGURES = (
    "work_done_by_deadline_per_day_s",
    "workload_done_by_deadline",
    "workload_jobs",
    "gpu_limit_above_allowance_longest",
    "gpu_temp_max_c",
    "gpu_energy_wh",
)


def run(scenario: str, predictions: bool, out: Path) -> dict:
    """One bench run; its report's figures and result."""
    command = [sys.executable, "-m", "hil", "run", scenario, "--out", str(out)]
    if not predictions:
        command.append("--no-eclipse-predictions")
    subprocess.run(command, cwd=out.parent, capture_output=True, check=False)
    report = json.loads((out / "report.json").read_text())
    return {"result": report["result"], **{k: report["figures"].get(k) for k in FIGURES}}


def main() -> int:
    """Run the comparison; exit status 1 if energy-aware did less on any scenario."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--jobs", type=int, default=2, help="bench runs at once (default 2)")
    args = parser.parse_args()
    scenarios = [load_scenario(str(path)) for path in shipped()]
    names = [s.name for s in scenarios if not s.constellation]  # a constellation's: fleet.py
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            (name, on): pool.submit(run, name, on, Path(tmp) / f"{name}-{on}")
            for name in names
            for on in (True, False)
        }
        results = {key: future.result() for key, future in futures.items()}
    rows = {}
    print(
        f"{'scenario':18} {'energy-aware':>14} {'no predictions':>15} {'ratio':>7}   jobs on time"
    )
    worse = False
    missed = []
    for name in names:
        aware, plain = results[(name, True)], results[(name, False)]
        a, p = aware["work_done_by_deadline_per_day_s"], plain["work_done_by_deadline_per_day_s"]
        ratio = a / p if p else (1.0 if a == p else float("inf"))
        worse |= a < p
        if name in TARGETS and ratio < TARGETS[name]:
            missed.append(f"{name}: {ratio:.3f}x, target {TARGETS[name]}x")
        rows[name] = {"energy_aware": aware, "no_predictions": plain, "ratio": ratio}
        print(
            f"{name:18} {a:12.0f} s {p:13.0f} s {ratio:7.3f}   "
            f"{aware['workload_done_by_deadline']} vs {plain['workload_done_by_deadline']} "
            f"of {aware['workload_jobs']}"
            + ("" if aware["result"] == plain["result"] == "pass" else "  (a run FAILED)")
        )
    print("GPU work done by the deadlines, full-power GPU seconds per day (lockstep, one run each)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    for line in missed:
        print(f"target missed: {line}")
    if worse:
        print("target missed: energy-aware did less than the baseline on a scenario")
    return 1 if worse or missed else 0


if __name__ == "__main__":
    sys.exit(main())
