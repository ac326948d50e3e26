"""How every command that reads or writes the archive names it: ``--archive SPEC`` (a SQLite
file's path or a ``postgresql://`` URL), or else the archive.sqlite in ``--state DIR``; and one
spacecraft's rows in it: ``--spacecraft NAME|ID``, a name as the station recorded its fleet in
``--state DIR`` (ground/fleet.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ground.fleet import spacecraft_in

DEFAULT_STATE = Path("ground-state")


def add_archive_arguments(
    parser: argparse.ArgumentParser, state_help: str = "the station's"
) -> None:
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help=state_help)
    parser.add_argument(
        "--archive",
        metavar="SPEC",
        help="the archive: a SQLite file, or postgresql://USER@HOST/DB (default "
        "STATE/archive.sqlite)",
    )


def add_spacecraft_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spacecraft", metavar="NAME|ID", help="one spacecraft's rows (default: every one's)"
    )


def spacecraft_named(args: argparse.Namespace) -> int | None:
    """The spacecraft id ``--spacecraft`` names, or None; FleetError if it names none."""
    return None if args.spacecraft is None else spacecraft_in(args.state, args.spacecraft)


def archive_named(args: argparse.Namespace) -> str | Path:
    """The archive the command line names."""
    return args.archive or args.state / "archive.sqlite"
