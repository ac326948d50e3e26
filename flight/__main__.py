"""Command line of the payload controller: ``python -m flight run --bus PORT``, ``icd``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import serial


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m flight", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the payload controller on a bus link")
    run.add_argument("--bus", required=True, help="serial port: a tty, a pty or a pyserial URL")
    run.add_argument("--baud", type=int, default=115200, help="line rate (default 115200)")
    run.add_argument(
        "--state-dir",
        type=Path,
        default=Path("payload-state"),
        help="job area (bin/) and job directories (jobs/); default ./payload-state",
    )
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    icd = sub.add_parser("icd", help="print the dictionary's part of docs/icd.md")
    icd.add_argument("--write", type=Path, help="update the generated section of this file")
    args = parser.parse_args(argv)

    if args.cmd == "icd":
        from flight.icd import render, splice

        if args.write is None:
            print(render())
        else:
            args.write.write_text(splice(args.write.read_text()))
        return 0

    from flight.controller import Controller, open_link

    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s flight %(levelname)s %(message)s",
    )
    try:
        link = open_link(args.bus, args.baud)
    except (serial.SerialException, ValueError) as exc:
        print(f"flight: cannot open bus link {args.bus}: {exc}", file=sys.stderr)
        return 2
    (args.state_dir / "bin").mkdir(parents=True, exist_ok=True)
    controller = Controller(link, args.state_dir)
    try:
        controller.run()
    except serial.SerialException as exc:
        print(f"flight: bus link lost: {exc}", file=sys.stderr)
        return 3
    finally:
        link.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
