"""Command line of the HIL bench: ``python -m hil run [SCENARIO] --out DIR``, ``list``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from hil.bench import BenchConfig, run_bench
from hil.default_scenario import default_scenario

SCENARIOS = {"default": (default_scenario, "ping, corrupt frames, a sample job to completion")}


def _speed(text: str) -> float | None:
    if text in ("max", "lockstep"):
        return None
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be positive, or 'max' for lockstep")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status is 0 only when every check held."""
    parser = argparse.ArgumentParser(prog="python -m hil", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run a scenario")
    run.add_argument("scenario", nargs="?", default="default")
    run.add_argument("--out", type=Path, required=True, help="directory for the report and logs")
    run.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="bus seconds per wall second, or 'max' for lockstep (default 1)",
    )
    sub.add_parser("list", help="list the scenarios")
    args = parser.parse_args(argv)
    if args.cmd == "list":
        for name, (_, what) in SCENARIOS.items():
            print(f"{name:12} {what}")
        return 0
    if args.scenario not in SCENARIOS:
        print(f"hil: no scenario {args.scenario!r}; see python -m hil list", file=sys.stderr)
        return 2
    config = BenchConfig(args.out, speed=args.speed)
    report = asyncio.run(run_bench(args.scenario, SCENARIOS[args.scenario][0], config))
    print(report.summary(args.out))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
