#!/usr/bin/env python3
"""The boot guard of the flight image's A/B slots (installed as /opt/payload/bin/payload-boot;
the Python standard library only, so that it works whatever a slot holds).

A new version runs on trial: activating it points ``current`` at its slot and writes a trial
record (the slot, the one before, the starts it may take, a deadline). systemd runs
``payload-boot start`` before every start of the controller (ExecStartPre): it counts the start,
and when the starts are spent or the deadline has passed without the new version reporting
healthy, it points ``current`` back at the slot before and records the rollback.
``payload-boot check`` (a timer) rolls back at the deadline a version that runs without ever
reporting healthy, and restarts the controller. The healthy version commits: the trial record
goes. Layout under the root (docs/image.md):

    opt/payload/slots/{a,b}/   a version each          opt/payload/current -> slots/a
    var/lib/payload/image/trial.json, rollback.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SLOTS = ("a", "b")
IMAGE_DIR = "opt/payload"
STATE_DIR = "var/lib/payload/image"


def current(root: Path) -> str | None:
    """The slot ``current`` points at; None before the first install."""
    try:
        name = os.readlink(root / IMAGE_DIR / "current")
    except FileNotFoundError:
        return None
    slot = Path(name).name
    return slot if slot in SLOTS else None


def point_current(root: Path, slot: str) -> None:
    """Point ``current`` at a slot, atomically (a new link renamed over the old one)."""
    link = root / IMAGE_DIR / "current"
    tmp = link.with_name(".current.new")
    tmp.unlink(missing_ok=True)
    os.symlink(f"slots/{slot}", tmp)
    os.replace(tmp, link)
    _sync_dir(link.parent)


def read_record(root: Path, name: str) -> dict | None:
    """A record of the image state directory (trial, rollback); None when there is none or it
    cannot be read (a torn write: the guard then rolls back, the safe side)."""
    try:
        record = json.loads((root / STATE_DIR / name).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def write_record(root: Path, name: str, record: dict | None) -> None:
    """Write (or, with None, remove) a record durably."""
    path = root / STATE_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if record is None:
        path.unlink(missing_ok=True)
    else:
        tmp = path.with_name(f".{name}.new")
        with open(tmp, "w") as out:
            json.dump(record, out, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rollback(root: Path, trial: dict, reason: str, now: float) -> str:
    """Point ``current`` back at the slot before the trial, record why; the slot."""
    back = trial.get("previous")
    if back not in SLOTS:
        back = next(s for s in SLOTS if s != current(root))
    point_current(root, back)
    write_record(
        root,
        "rollback.json",
        {
            "from": trial.get("slot"),
            "to": back,
            "version": trial.get("version"),
            "reason": reason,
            "at": now,
        },
    )
    write_record(root, "trial.json", None)
    return back


def start(root: Path, now: float) -> str:
    """Before a start: count it against a trial, or roll the trial back; what was done."""
    trial = read_record(root, "trial.json")
    if trial is None:
        return f"slot {current(root)}"
    if trial.get("slot") not in SLOTS:
        return f"rolled back to slot {rollback(root, trial, 'unreadable trial record', now)}"
    if trial["slot"] != current(root):
        write_record(root, "trial.json", None)
        return f"slot {current(root)} (a stale trial record removed)"
    starts = trial.get("starts_left")
    deadline = trial.get("deadline")
    if not isinstance(starts, int) or not isinstance(deadline, (int, float)):
        return f"rolled back to slot {rollback(root, trial, 'unreadable trial record', now)}"
    if now >= deadline:
        return f"rolled back to slot {rollback(root, trial, 'not healthy in time', now)}"
    if starts <= 0:
        return f"rolled back to slot {rollback(root, trial, 'failed to start', now)}"
    write_record(root, "trial.json", {**trial, "starts_left": starts - 1})
    return f"slot {trial['slot']} on trial ({starts - 1} starts left)"


def check(root: Path, now: float) -> bool:
    """At the deadline of a trial never committed: roll back; whether it did."""
    trial = read_record(root, "trial.json")
    deadline = None if trial is None else trial.get("deadline")
    if trial is None or (isinstance(deadline, (int, float)) and now < deadline):
        return False
    rollback(root, trial, "not healthy in time", now)
    return True


def main(argv: list[str] | None = None) -> int:
    """payload-boot --root DIR start|check [--restart-unit UNIT]"""
    parser = argparse.ArgumentParser(prog="payload-boot", description=main.__doc__)
    parser.add_argument("--root", type=Path, default=Path("/"))
    parser.add_argument("action", choices=["start", "check"])
    parser.add_argument("--restart-unit", help="check: restart this systemd unit after a rollback")
    args = parser.parse_args(argv)
    if args.action == "start":
        print(f"payload-boot: {start(args.root, time.time())}", file=sys.stderr)
        return 0
    if check(args.root, time.time()):
        print("payload-boot: trial not healthy in time: rolled back", file=sys.stderr)
        if args.restart_unit:
            subprocess.run(["systemctl", "restart", args.restart_unit], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
