"""Installs a verified bundle into a slot of a root tree (docs/image.md): its wheels unpacked
(pypa's installer) into the slot's site directory, its configuration, units and boot guard beside
them, a launcher, and the manifest it came with. A slot is written beside its final place and
renamed into it, so a slot is whole or absent; the first install also points ``current`` at it and
puts the boot guard and the systemd units in place."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import zipfile
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.sources import WheelFile

from flight.image.boot import IMAGE_DIR, SLOTS, current, point_current
from flight.image.bundle import MANIFEST, SIGNATURE, Bundle, BundleError
from flight.image.targets import PYTHON

LAUNCHER = f"""#!/bin/sh
# The flight software of this slot (docs/image.md): python -m flight, with this slot's packages.
slot=$(dirname "$(dirname "$(readlink -f "$0")")")
PYTHONPATH="$slot/site" exec "${{PAYLOAD_PYTHON:-python{PYTHON}}}" -s -P -m flight "$@"
"""
SYSTEMD_DIR = "etc/systemd/system"
UNITS_PATH = "units"  # under the image directory: the units themselves, linked from SYSTEMD_DIR
GUARD_PATH = "bin/payload-boot"  # under the image directory


def slot_dir(root: Path, slot: str) -> Path:
    """A slot's directory under the root."""
    return root / IMAGE_DIR / "slots" / slot


def inactive(root: Path) -> str:
    """The slot an install goes to: the one ``current`` does not point at."""
    active = current(root)
    return next(s for s in SLOTS if s != active)


def installed_version(root: Path, slot: str) -> str | None:
    """The version installed in a slot (its manifest is written last); None for an empty slot."""
    try:
        manifest = (slot_dir(root, slot) / MANIFEST).read_bytes()
    except FileNotFoundError:
        return None
    return json.loads(manifest)["version"]


def install_bundle(bundle: Bundle, root: Path) -> str:
    """Install into the inactive slot (the first install: slot a, made current); the slot.
    BundleError if another install into the root is under way."""
    lock_path = root / IMAGE_DIR / ".install.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BundleError(f"another install into {root} is under way") from None
        return _install_locked(bundle, root)


def _install_locked(bundle: Bundle, root: Path) -> str:
    slot = inactive(root)
    final = slot_dir(root, slot)
    staging = final.with_name(f".{slot}.new")
    shutil.rmtree(staging, ignore_errors=True)
    for name, data in sorted(bundle.files.items()):
        if name.startswith("wheels/"):
            _unpack(name, data, staging)
        elif name not in (MANIFEST, SIGNATURE):
            _write(staging / name, data, executable=name.startswith("boot/"))
    _write(staging / "bin/payload", LAUNCHER.encode(), executable=True)
    _write(staging / SIGNATURE, bundle.files[SIGNATURE])
    _write(staging / MANIFEST, bundle.files[MANIFEST])  # last: its presence says "whole"
    os.sync()  # every file on the disk before the slot takes its name (installs are rare)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    if current(root) is None:
        point_current(root, slot)
        install_fixed_parts(root, slot)
    return slot


def install_fixed_parts(root: Path, slot: str) -> None:
    """Put a slot's boot guard and systemd units in their fixed places: at the first install,
    and when a new version commits. The units are written under the image directory, which is
    writable on a board whose root is read-only, and linked from /etc/systemd/system (relative
    links, which resolve the same on board and in a root tree elsewhere)."""
    source = slot_dir(root, slot)
    _write(root / IMAGE_DIR / GUARD_PATH, (source / "boot/payload-boot").read_bytes(), True)
    for unit in sorted((source / "systemd").iterdir()):
        _write(root / IMAGE_DIR / UNITS_PATH / unit.name, unit.read_bytes())
        link = root / SYSTEMD_DIR / unit.name
        target = os.path.relpath(root / IMAGE_DIR / UNITS_PATH / unit.name, link.parent)
        if not link.is_symlink() or os.readlink(link) != target:
            link.parent.mkdir(parents=True, exist_ok=True)
            link.unlink(missing_ok=True)
            link.symlink_to(target)


def _unpack(name: str, data: bytes, staging: Path) -> None:
    """Unpack one wheel into the slot's site directory, checking its RECORD."""
    site = str(staging / "site")
    scheme = {
        "purelib": site,
        "platlib": site,
        "headers": str(staging / "include"),
        "scripts": str(staging / "bin"),
        "data": str(staging / "data"),
    }
    destination = SchemeDictionaryDestination(
        scheme, interpreter=f"/usr/bin/python{PYTHON}", script_kind="posix"
    )
    wheel = staging / ".wheels" / Path(name).name  # the installer reads the tags off its name
    _write(wheel, data)
    try:
        with WheelFile.open(wheel) as source:
            source.validate_record()
            install(source, destination, {"INSTALLER": b"payload-image\n"})
    except (InstallerError, zipfile.BadZipFile, ValueError) as exc:
        raise BundleError(f"{name}: cannot be installed ({exc})") from None
    finally:
        shutil.rmtree(wheel.parent)


def _write(path: Path, data: bytes, executable: bool = False) -> None:
    """Write a file whole or not at all (a new file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.new")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.chmod(0o755 if executable else 0o644)
    os.replace(tmp, path)
