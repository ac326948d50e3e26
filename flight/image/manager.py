"""The controller's side of flight image updates (docs/image.md): verify an uplinked bundle and
install it into the inactive slot (in a child process, so the link is served meanwhile), activate
it on trial, and, running as the version on trial, commit once healthy or roll back at a fault.
Also reports, once, a rollback the boot guard made before this start."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from flight import dictionary as d
from flight.image.boot import current, point_current, read_record, rollback, write_record
from flight.image.bundle import BundleError, read_bundle
from flight.image.install import inactive, install_fixed_parts, installed_version
from flight.image.targets import host_target
from flight.security.keys import IMAGE_KEYS, KeyFileError, load_signing_keys
from flight.events import EV, Event

TRIAL_STARTS = 3  # starts a new version may take before the boot guard rolls it back
RESTART_STATUS = 75  # EX_TEMPFAIL: the controller exits to be started again (Restart=)


class ImageError(Exception):
    """An image command refused, with its PUS 1 failure code."""

    def __init__(self, code: d.FailureCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class ImageManager:
    """Installs, activates and judges flight software versions in an image root."""

    def __init__(
        self,
        root: Path,
        keys: Path,
        health_check: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.keys = keys
        self.health_check = health_check  # raises on a failed self-test
        self.clock = clock
        self._install: subprocess.Popen | None = None
        self._install_slot = ""
        self.trial: dict | None = None
        self._healthy_s = 0

    def started(self) -> list[Event]:
        """At start: report a rollback the boot guard made; note a trial of this version."""
        events = []
        record = read_record(self.root, "rollback.json")
        if record and not record.get("reported"):
            events.append(
                EV.IMAGE_ROLLED_BACK(
                    slot=str(record.get("from")),
                    version=str(record.get("version")),
                    to_slot=str(record.get("to")),
                    reason=str(record.get("reason")),
                )
            )
            write_record(self.root, "rollback.json", record | {"reported": True})
        trial = read_record(self.root, "trial.json")
        self.trial = trial if trial and trial.get("slot") == current(self.root) else None
        return events

    # --- IMAGE_INSTALL
    def check_install(self, path: Path) -> Path:
        """Acceptance: nothing else under way, and the bundle verifies for this machine."""
        self._not_busy()
        try:
            read_bundle(path, load_signing_keys(self.keys, IMAGE_KEYS), host_target())
        except (BundleError, KeyFileError) as exc:
            raise ImageError(
                d.FailureCode.IMAGE_REJECTED, str(exc).replace(f"{path}: ", "")
            ) from None
        return path

    def install(self, path: Path) -> None:
        """Start installing into the inactive slot (the outcome comes with a later second)."""
        self._install_slot = inactive(self.root)
        self._install = subprocess.Popen(
            [sys.executable, "-P", "-m", "flight", "image", "install", str(path),
             "--root", str(self.root), "--keys", str(self.keys)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    # --- IMAGE_ACTIVATE
    def check_activate(self) -> str:
        """Acceptance: nothing under way, and a version installed in the inactive slot."""
        self._not_busy()
        slot = inactive(self.root)
        if installed_version(self.root, slot) is None:
            raise ImageError(d.FailureCode.IMAGE_NOT_INSTALLED, f"slot {slot} is empty")
        return slot

    def activate(self, slot: str, trial_s: int, health_s: int) -> Event:
        """Make ``slot`` current on trial (the caller then restarts into it)."""
        version = installed_version(self.root, slot)
        write_record(
            self.root,
            "trial.json",
            {
                "slot": slot,
                "previous": current(self.root),
                "version": version,
                "starts_left": TRIAL_STARTS,
                "deadline": self.clock() + trial_s,
                "health_s": health_s,
            },
        )
        point_current(self.root, slot)
        return EV.IMAGE_ACTIVATED(slot=slot, version=version)

    def _not_busy(self) -> None:
        if self._install is not None:
            raise ImageError(d.FailureCode.IMAGE_BUSY, "an install is under way")
        if self.trial is not None:
            raise ImageError(d.FailureCode.IMAGE_BUSY, "this version is on trial")

    # --- each bus second
    def second(self, safe_mode: bool) -> tuple[list[Event], bool]:
        """An install's outcome, and the trial's progress: commit when it has served its
        health_s seconds and passes the self-test; roll back at once in safe mode or at a failed
        self-test. The events, and whether the controller must restart (after a rollback)."""
        events = self._install_outcome()
        if self.trial is None:
            return events, False
        if safe_mode:
            self._roll_back("safe mode during the trial")
            return events, True
        self._healthy_s += 1
        if self._healthy_s < int(self.trial.get("health_s", 0)):
            return events, False
        try:
            self.health_check()
        except Exception as exc:  # a self-test finding of any kind fails the trial
            self._roll_back(f"self-test failed: {exc}")
            return events, True
        slot, self.trial = self.trial["slot"], None
        write_record(self.root, "trial.json", None)
        install_fixed_parts(self.root, slot)
        events.append(EV.IMAGE_COMMITTED(slot=slot, version=installed_version(self.root, slot)))
        return events, False

    def _roll_back(self, reason: str) -> None:
        """Back to the slot before; the version rolled back to reports it when it starts."""
        trial, self.trial = self.trial, None
        rollback(self.root, trial, reason, self.clock())

    def _install_outcome(self) -> list[Event]:
        if self._install is None or self._install.poll() is None:
            return []
        proc, self._install = self._install, None
        error = proc.communicate()[1].strip()
        if proc.returncode != 0:
            reason = error.splitlines()[-1] if error else f"exit status {proc.returncode}"
            return [EV.IMAGE_INSTALL_FAILED(reason=reason)]
        slot = self._install_slot
        return [EV.IMAGE_INSTALLED(slot=slot, version=installed_version(self.root, slot))]
