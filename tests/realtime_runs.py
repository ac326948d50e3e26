"""The real-time bench runs (make test-realtime): every shipped scenario in real time x20, and the
passes scenario and the first four hours of the nominal day at x5, as separate processes, several
at once, each through ``python -m hil run``.

A real board and the flight computer's VM only ever run in real time, where the bus clock follows
the wall clock whatever the machine is doing; these runs must pass every check, as the lockstep
runs of make test do. Prints one line per run (checks, ticks unanswered, the CFDP retransmissions
per link and their causes) and exits 1 unless every run passed. About an hour on two cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from hil.scenario import load_scenario, shipped


@dataclass(frozen=True)
class Run:
    scenario: str
    speed: float
    until_s: float | None = None

    @property
    def name(self) -> str:
        until = f"-until{self.until_s:g}s" if self.until_s else ""
        return f"{self.scenario}-x{self.speed:g}{until}"

    def wall_s(self) -> float:
        """Its expected length in wall seconds."""
        if self.scenario == "default":  # built in: a few bus minutes
            return 60.0 / self.speed
        duration = load_scenario(self.scenario).duration_s
        return min(duration, self.until_s or duration) / self.speed


def runs() -> list[Run]:
    """Every shipped scenario of one spacecraft (the built-in default too) at x20; passes and
    four hours of the nominal day at x5. A constellation runs in lockstep (bench/fleet.py)."""
    single = [p for p in shipped() if not load_scenario(str(p)).constellation]
    out = [Run("default", 20.0)] + [Run(path.stem, 20.0) for path in single]
    out += [Run("passes", 5.0), Run("nominal-day", 5.0, 4 * 3600.0)]
    return out


def execute(run: Run, out: Path) -> dict:
    """One run as its own process; what its report says."""
    directory = out / run.name
    command = [sys.executable, "-m", "hil", "run", run.scenario, "--out", str(directory)]
    command += ["--speed", f"{run.speed:g}"]
    if run.until_s:
        command += ["--until", f"{run.until_s:g}"]
    started = time.monotonic()
    with open(out / f"{run.name}.log", "w") as log:
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    try:
        report = json.loads((directory / "report.json").read_text())
    except (OSError, ValueError):
        report = {}
    report.pop("timeline", None)  # in DIR/report.json; the summary keeps the verdicts
    return {
        "run": run.name,
        "command": " ".join(["python -m hil run", *command[4:]]),
        "exit": status,
        "wall_s": round(time.monotonic() - started),
        "report": report,
    }


def line(result: dict) -> str:
    """One result for a person."""
    report = result["report"]
    checks = report.get("checks", [])
    judged = [c for c in checks if c["passed"] is not None]
    f = report.get("figures", {})
    cfdp = "; ".join(
        f"{link} {way} {d['pdus']} PDUs, {d['retransmitted']} sent again"
        + "".join(f", {k} {v}" for k, v in d["causes"].items() if v)
        for link, ways in report.get("cfdp", {}).items()
        for way, d in ways.items()
    )
    verdict = "PASS" if result["exit"] == 0 else "FAIL"
    return (
        f"{verdict} {result['run']:32} {sum(bool(c['passed']) for c in judged)}/{len(judged)} "
        f"checks ({len(checks) - len(judged)} not reached), {result['wall_s']} wall s, "
        f"ticks unanswered {f.get('ticks_unanswered')}, answer lag max "
        f"{f.get('tick_answer_lag_max_s')} bus s; CFDP {cfdp or 'none'}"
        + (f"; error: {report['error']}" if report.get("error") else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/realtime"))
    parser.add_argument("--jobs", type=int, default=4, help="runs at once (default 4)")
    parser.add_argument("--only", nargs="*", help="run names to run (default: all)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = [r for r in runs() if not args.only or r.name in args.only]
    chosen.sort(key=Run.wall_s, reverse=True)  # longest first: the lanes end together
    print(
        f"{len(chosen)} real-time runs, {args.jobs} at once, "
        f"{sum(r.wall_s() for r in chosen) / 60:.0f} min of runs",
        flush=True,
    )
    results = []
    with ThreadPoolExecutor(args.jobs) as pool:
        for done in as_completed([pool.submit(execute, r, args.out) for r in chosen]):
            result = done.result()
            print(line(result), flush=True)
            results.append(result)
    (args.out / "summary.json").write_text(json.dumps(results, indent=1) + "\n")
    failed = [r["run"] for r in results if r["exit"] != 0]
    print(
        f"{len(results) - len(failed)}/{len(results)} real-time runs passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
