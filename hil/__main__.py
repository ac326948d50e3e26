"""Command line of the HIL bench: ``python -m hil run [SCENARIO] --out DIR``, ``list``, and
``link`` (an emulated space link for UDP endpoints).

SCENARIO is ``default`` (built in), the name of a file in hil/scenarios, or a path to one.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from flight.command_line import (
    host_port,
    non_negative,
    positive,
    positive_count,
    probability,
    run_main,
)
from flight.security.keys import KeyFileError
from hil.bench import SAMPLE_JOBS, BenchConfig, run_bench, write_sample_jobs
from hil.default_scenario import default_scenario
from hil.fleet_bench import constellation_fleet, run_fleet, spread_fleet
from hil.flight_vm import VmError
from hil.scenario import ScenarioError, load_scenario, shipped
from hil.scenario_run import bench_config, scenario_runner

DEFAULT = "default"


def _speed(text: str) -> float | str:
    if text in ("max", "lockstep"):
        return "max"
    if text in ("realtime", "real-time"):
        return 1.0
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "realtime, max (lockstep), or a number of bus seconds per wall second"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be positive, or 'max' for lockstep")
    return value


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _bus_seconds(text: str) -> float:
    """A bus time from the start of the run: seconds, or a number with s, m, h or d."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a bus time from the start: seconds, or with s, m, h or d (4h)"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be after the start")
    return value


def _outage(text: str) -> tuple[float, float]:
    try:
        start, length = (float(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected START:SECONDS") from None
    return start, length


def run_link(args: argparse.Namespace) -> int:
    """Relay until the duration ends or SIGTERM/SIGINT; print the port first, the figures last."""
    import json
    import signal
    import time

    from hil.link_emulator import Impairments, LinkEmulator

    imp = Impairments(args.rate, args.delay, args.loss, args.ber)
    emulator = LinkEmulator(args.listen, args.to, imp, imp, args.outage, args.seed)
    print(json.dumps({"listening": emulator.address[1]}), flush=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        emulator.run(None if args.duration is None else time.monotonic() + args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        print(json.dumps(emulator.stats()), flush=True)
        emulator.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status is 0 only when every check held."""
    parser = argparse.ArgumentParser(prog="python -m hil", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run a scenario")
    run.add_argument("scenario", nargs="?", default=DEFAULT)
    run.add_argument("--out", type=Path, required=True, help="directory for the report and logs")
    run.add_argument(
        "--speed",
        type=_speed,
        help="bus seconds per wall second, or 'max' for lockstep "
        "(default: the scenario's; real time for 'default')",
    )
    run.add_argument("--seed", type=int, help="seed of the run (default: the scenario's)")
    run.add_argument(
        "--until",
        type=_bus_seconds,
        metavar="BUS_TIME",
        help="end the run at this bus time from its start (seconds, or 90m, 4h): the timeline "
        "up to it, the checks judged on what ran (those waiting for what had not happened yet "
        "are reported as not reached)",
    )
    run.add_argument(
        "--port",
        help="a serial port (or pyserial URL) to a payload computer "
        "running the controller; default: a pty and a controller started here",
    )
    run.add_argument(
        "--baud", type=positive_count, help="line rate (default: the scenario's, or 115200)"
    )
    run.add_argument(
        "--keys",
        type=Path,
        help="a directory with bus.toml and ground.toml matching the payload's key file "
        "(needed with --port; default: fresh keys for the controller started here)",
    )
    run.add_argument(
        "--image-root",
        type=Path,
        help="run the controller from the flight image installed in this root, as its systemd "
        "unit does (python -m flight image install ...; --keys: the keys it was installed with)",
    )
    run.add_argument(
        "--flight-vm",
        type=Path,
        metavar="DISK",
        help="boot this flight disk (python -m flight image disk ... --engineering) in QEMU "
        "with the line on its bus UART; --keys: the keys its disk was built with",
    )
    run.add_argument(
        "--no-eclipse-predictions",
        action="store_true",
        help="the controller schedules without the bus's eclipse predictions (the baseline of "
        "the energy-aware scheduling figures)",
    )
    run.add_argument(
        "--fleet",
        type=positive_count,
        metavar="N",
        help="run N payload spacecraft (ids 161, 162, ...) against one ground station, each its "
        "own run in OUT/scNNN; checks that nothing of one lands under another (OUT/fleet.json)",
    )
    run.add_argument(
        "--placement",
        choices=("broker", "round-robin"),
        default="broker",
        help="a constellation's workload: placed by the fleet job broker (default), or each job "
        "on the next satellite in turn (the baseline)",
    )
    sub.add_parser("list", help="list the scenarios")
    jobs = sub.add_parser("jobs", help="write the sample jobs into a job area (for a flight disk)")
    jobs.add_argument("dir", type=Path)
    jobs.add_argument(
        "--python", default="/usr/bin/python3", help="their interpreter (default: a disk's)"
    )
    link = sub.add_parser("link", help="relay UDP datagrams through an emulated space link")
    link.add_argument("--listen", required=True, type=host_port, help="HOST:PORT (port 0: any)")
    link.add_argument("--to", required=True, type=host_port, help="HOST:PORT of the far end")
    link.add_argument("--rate", required=True, type=positive, help="bits per second, each way")
    link.add_argument("--delay", type=non_negative, default=0.0, help="one-way delay, seconds")
    link.add_argument("--loss", type=probability, default=0.0, help="datagram loss probability")
    link.add_argument("--ber", type=probability, default=0.0, help="bit error rate")
    link.add_argument(
        "--outage",
        action="append",
        type=_outage,
        default=[],
        help="START:SECONDS after the first datagram; repeatable",
    )
    link.add_argument("--seed", type=int, default=0)
    link.add_argument("--duration", type=positive, help="stop after this many seconds")
    args = parser.parse_args(argv)
    if args.cmd == "link":
        return run_link(args)
    if args.cmd == "jobs":
        write_sample_jobs(args.dir, args.python)
        print(f"{', '.join(sorted(SAMPLE_JOBS))} in {args.dir}")
        return 0
    if args.cmd == "list":
        print(f"{DEFAULT:20} ping, corrupt frames and a sample job, in real time (built in)")
        for path in shipped():
            try:
                scenario = load_scenario(str(path))
            except ScenarioError as exc:
                print(f"{path.stem:20} ERROR {exc}")
                continue
            print(f"{scenario.name:20} {scenario.description}")
        return 0
    # SIGTERM (a test harness, systemd, kill) stops a run as Ctrl-C does: the bench's processes
    # are stopped on the way out, not left running.
    signal.signal(signal.SIGTERM, _as_interrupt)
    try:
        return _run(args)
    except (KeyFileError, VmError) as exc:
        print(f"hil: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hil: stopped", file=sys.stderr)
        return 130


def _as_interrupt(_signum: int, frame: object) -> None:
    """SIGTERM handled as SIGINT's handler of the moment handles Ctrl-C: inside asyncio.run, its
    runner's, which cancels the run (its cleanup runs, the bench's processes are stopped) and
    raises KeyboardInterrupt after it; outside, KeyboardInterrupt at once. Raised straight into
    the event loop instead, the interrupt can land between a task's steps and leave the task's
    exception unretrieved, printed at exit."""
    handler = signal.getsignal(signal.SIGINT)
    if not callable(handler):
        raise KeyboardInterrupt
    handler(signal.SIGINT, frame)


def _run(args: argparse.Namespace) -> int:
    if args.image_root is not None and not (args.image_root / "opt/payload/current").exists():
        print(
            f"hil: no flight image installed in {args.image_root} "
            "(python -m flight image install BUNDLE --root ROOT)",
            file=sys.stderr,
        )
        return 2
    if args.scenario == DEFAULT and args.until is not None:
        print("hil: --until ends a scenario file's run early; the default scenario has no "
              "timeline to cut", file=sys.stderr)  # fmt: skip
        return 2
    if args.fleet is not None and (args.port or args.keys or args.image_root or args.flight_vm):
        print("hil: --fleet runs controllers started here, with fresh keys: not with --port, "
              "--keys, --image-root or --flight-vm", file=sys.stderr)  # fmt: skip
        return 2
    if args.scenario == DEFAULT:
        speed = {None: 1.0, "max": None}.get(args.speed, args.speed)
        config = BenchConfig(
            args.out,
            speed=speed,
            seed=args.seed or 0,
            port=args.port,
            baud=args.baud or 115_200,
            keys=args.keys,
            image_root=args.image_root,
            flight_vm=args.flight_vm,
        )
        name, runner = DEFAULT, default_scenario
    else:
        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            print(f"hil: {exc}", file=sys.stderr)
            return 2
        config = bench_config(scenario, args.out, args.speed, args.seed, args.until)
        config.port = args.port
        config.keys = args.keys
        config.image_root = args.image_root
        config.flight_vm = args.flight_vm
        config.baud = args.baud or config.baud
        config.eclipse_predictions = not args.no_eclipse_predictions
        name, runner = scenario.name, scenario_runner(scenario, args.until)
    if args.scenario != DEFAULT and scenario.constellation:
        if args.fleet is not None or args.port or args.keys or args.image_root or args.flight_vm:
            print(f"hil: {scenario.name} declares its constellation of "
                  f"{len(scenario.constellation)} satellites, controllers started here with "
                  "fresh keys: not with --fleet, --port, --keys, --image-root or --flight-vm",
                  file=sys.stderr)  # fmt: skip
            return 2
        members = constellation_fleet(config, scenario.constellation)
        seconds = (
            scenario.duration_s if args.until is None else min(args.until, scenario.duration_s)
        )
        result = asyncio.run(
            run_fleet(
                name, runner, config, members, scenario.isl, int(seconds), args.placement,
                workload=bool(scenario.workload),
            )
        )  # fmt: skip
        print(result.summary())
        return 0 if result.passed else 1
    if args.placement != "broker":
        print("hil: --placement places a constellation's workload: this scenario declares no "
              "constellation", file=sys.stderr)  # fmt: skip
        return 2
    if args.fleet is not None:
        result = asyncio.run(run_fleet(name, runner, config, spread_fleet(config, args.fleet)))
        print(result.summary())
        return 0 if result.passed else 1
    report = asyncio.run(run_bench(name, runner, config))
    print(report.summary(args.out))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(run_main("hil", main))
