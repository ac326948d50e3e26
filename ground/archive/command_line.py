"""How every command that reads or writes the archive names it: ``--archive SPEC`` (a SQLite
file's path or a ``postgresql://`` URL), or else the archive.sqlite in ``--state DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

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


def archive_named(args: argparse.Namespace) -> str | Path:
    """The archive the command line names."""
    return args.archive or args.state / "archive.sqlite"
