"""The Debian 12 root filesystem under a flight disk (docs/image.md, "The flight disk"): the
packages it holds, built by mmdebstrap from Debian's archive into a tarball that is cached by
everything that goes into it, so that a second disk from the same packages starts from it.

Building needs root (mmdebstrap --mode=root). A root filesystem of this machine's architecture is
installed here, maintainer scripts and all. Another architecture's packages are only unpacked
here (this machine cannot run their scripts: no binfmt_misc) and installed by the board on its
first boot (flight/image/firstboot.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flight.image import firstboot
from flight.image.build import BuildError
from flight.image.targets import TargetError

SUITE = "bookworm"
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
# systemd as PID 1, the kernel and its modules, the interpreter the bundle is built for, fsck for
# the writable partitions, the boot loader's EFI binary (copied to the boot partition).
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "udev",
    "kmod",
    "e2fsprogs",
    "python3",  # python3.11 and /usr/bin/python3 (the boot guard's interpreter)
    "systemd-boot-efi",
    "dbus",  # for logind, which powers off on the ACPI power button (an orderly shutdown)
)
ENGINEERING_PACKAGES = ("qemu-guest-agent",)  # the bench's way into the guest, never on flight
# The drivers the initramfs carries to find and mount the root: virtio (QEMU), NVMe, SATA; the
# i6300ESB watchdog so that systemd finds a hardware watchdog as it starts.
INITRAMFS_MODULES = {
    "x86_64": ("virtio_pci", "virtio_blk", "nvme", "ahci", "sd_mod", "ext4", "i6300esb"),
    "aarch64": ("virtio_pci", "virtio_mmio", "virtio_blk", "nvme", "ext4", "i6300esb"),
}
# An unpacked root filesystem (another architecture's) starts from what --variant=minbase
# installs, with merged /usr as Debian 12 has it, busybox for its initramfs, and its packages
# kept for the first boot to install
UNPACKED_BASE = ("?essential", "?priority(required)", "apt", "usr-is-merged", "busybox-static")
MERGED_USR = 'for d in bin sbin lib; do ln -s usr/$d "$1/$d"; mkdir -p "$1/usr/$d"; done'
PACKAGE_LIST = "usr/share/payload-disk/packages.tsv"  # in the tree: package, version, arch
JOB_USER = "payload-job"
DPKG_OPTIONS = (  # no manuals, translations or documentation but the licences
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)


class RootfsError(BuildError):
    """The root filesystem could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class Rootfs:
    """A built root filesystem tarball and what it holds."""

    tarball: Path
    key: str  # SHA-256 over its recipe: names it in the cache
    packages: list[dict[str, str]]  # every Debian package with its version and architecture
    kernel: str  # the kernel's release (uname -r)


def recipe(target: str, engineering: bool, extra: tuple[str, ...] = ()) -> dict:
    """Everything that decides the tarball's content, for the cache key and the disk manifest."""
    if target not in DEBIAN_ARCH:
        raise TargetError(f"no target {target!r}: one of {', '.join(DEBIAN_ARCH)}")
    arch = DEBIAN_ARCH[target]
    packages = [*PACKAGES, f"linux-image-{arch}", *(ENGINEERING_PACKAGES if engineering else ())]
    packages += sorted(set(extra) - set(packages))
    if unpacked_here(target):
        return {
            "suite": SUITE,
            "architecture": arch,
            "mirrors": list(MIRRORS),
            "packages": [*UNPACKED_BASE, *packages],
            "dpkg_options": list(DPKG_OPTIONS),
            "variant": "extract",
            "setup_hooks": [MERGED_USR],
            "first_boot": hashlib.sha256(Path(firstboot.__file__).read_bytes()).hexdigest(),
            "initramfs_modules": list(INITRAMFS_MODULES[target]),
        }
    modules = "\\n".join(INITRAMFS_MODULES[target])
    hooks = [  # mmdebstrap's customize hooks ($1: the tree)
        # the initramfs: only the drivers named, not every storage driver of the kernel
        'sed -i "s/^MODULES=.*/MODULES=list/" "$1/etc/initramfs-tools/initramfs.conf"',
        f'printf "{modules}\\n" >> "$1/etc/initramfs-tools/modules"',
        'chroot "$1" update-initramfs -u -k all',
        f'chroot "$1" useradd --system --no-create-home --shell /usr/sbin/nologin {JOB_USER}',
        f'mkdir -p "$1/{Path(PACKAGE_LIST).parent}"',
        "chroot \"$1\" dpkg-query -W -f '${Package}\\t${Version}\\t${Architecture}\\n' "
        f'> "$1/{PACKAGE_LIST}"',
    ]
    return {
        "suite": SUITE,
        "architecture": arch,
        "mirrors": list(MIRRORS),
        "packages": packages,
        "dpkg_options": list(DPKG_OPTIONS),
        "hooks": hooks,
    }


def unpacked_here(target: str) -> bool:
    """Whether a root filesystem for ``target`` is only unpacked here, to be installed on the
    board's first boot: another architecture than this machine's."""
    return DEBIAN_ARCH.get(os.uname().machine) != DEBIAN_ARCH[target]


def build_rootfs(
    target: str,
    cache: Path,
    engineering: bool,
    refresh: bool = False,
    extra: tuple[str, ...] = (),
) -> Rootfs:
    """The root filesystem tarball for ``target`` with the ``extra`` packages: from the cache
    when one of the same recipe is there (unless ``refresh``), else built with mmdebstrap."""
    wanted = recipe(target, engineering, extra)
    key = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()
    tarball = cache / f"rootfs-{wanted['architecture']}-{key[:16]}.tar"
    facts = tarball.with_suffix(".json")
    if refresh or not (tarball.is_file() and facts.is_file()):
        _mmdebstrap(target, wanted, tarball, facts)
    known = json.loads(facts.read_text())
    return Rootfs(tarball, key, known["packages"], known["kernel"])


def _mmdebstrap(target: str, wanted: dict, tarball: Path, facts: Path) -> None:
    if os.geteuid() != 0:
        raise RootfsError("building a flight disk needs root (mmdebstrap --mode=root)")
    tool = shutil.which("mmdebstrap")
    if tool is None:
        raise RootfsError("mmdebstrap is not installed: apt-get install mmdebstrap")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_name(f".{tarball.stem}.partial.tar")  # mmdebstrap: a .tar is a tar
    command = [
        tool,
        "--mode=root",
        f"--variant={wanted.get('variant', 'minbase')}",
        f"--architectures={wanted['architecture']}",
        *(f"--include={package}" for package in wanted["packages"]),
        *(f"--dpkgopt={option}" for option in wanted["dpkg_options"]),
        *(f"--setup-hook={hook}" for hook in wanted.get("setup_hooks", ())),
        *(f"--customize-hook={hook}" for hook in wanted.get("hooks", ())),
    ]
    try:
        if "first_boot" in wanted:
            _unpack(command, wanted, partial)
        else:
            _mmdebstrap_run([*command, wanted["suite"], str(partial), *wanted["mirrors"]])
        listing = _read_member(partial, PACKAGE_LIST)
    except BuildError:
        partial.unlink(missing_ok=True)
        raise
    packages = [
        dict(zip(("package", "version", "architecture"), line.split("\t"), strict=True))
        for line in listing.splitlines()
    ]
    kernels = _kernels(_members(partial))
    if len(kernels) != 1:
        raise RootfsError(f"expected one kernel in the root filesystem, found {kernels}")
    facts.write_text(json.dumps({"packages": packages, "kernel": kernels[0]}, indent=1) + "\n")
    os.replace(partial, tarball)


def _unpack(command: list[str], wanted: dict, partial: Path) -> None:
    """Another architecture's root: its packages unpacked into a directory, kept for the first
    boot, which the tree is readied for; then the tarball of it."""
    with tempfile.TemporaryDirectory(dir=partial.parent, prefix=".unpacked-") as work:
        tree = Path(work) / "root"
        keep = "--skip=cleanup/apt/cache"
        _mmdebstrap_run([*command, keep, wanted["suite"], str(tree), *wanted["mirrors"]])
        kernels = _kernels(f"./{p.relative_to(tree)}" for p in (tree / "boot").iterdir())
        if len(kernels) != 1:
            raise RootfsError(f"expected one kernel in the root filesystem, found {kernels}")
        firstboot.ready(
            tree, kernels[0], tuple(wanted["initramfs_modules"]), PACKAGE_LIST, JOB_USER
        )
        done = subprocess.run(
            ["tar", "-cf", str(partial), "--numeric-owner", "--sort=name", "-C", str(tree), "."],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RootfsError(f"tar failed: {done.stderr.strip()}")


def _mmdebstrap_run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RootfsError(f"mmdebstrap failed (exit {done.returncode}): {last}")


def _kernels(members: Iterable[str]) -> list[str]:
    prefix = "./boot/vmlinuz-"
    return [name.removeprefix(prefix) for name in members if name.startswith(prefix)]


def _members(tarball: Path) -> list[str]:
    listing = subprocess.run(["tar", "-tf", str(tarball)], capture_output=True, text=True)
    return listing.stdout.splitlines()


def _read_member(tarball: Path, name: str) -> str:
    out = subprocess.run(["tar", "-xOf", str(tarball), f"./{name}"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RootfsError(f"{tarball}: no {name} in the root filesystem built")
    return out.stdout
