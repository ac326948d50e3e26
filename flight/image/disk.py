"""The flight disk (docs/image.md, "The flight disk"): a GPT disk image the payload computer
boots, made from the Debian root filesystem (flight/image/rootfs.py) and a verified bundle, with
no loop device: every file system is written into the image file at its partition's offset
(mke2fs -d -E offset=, mkfs.vfat --offset and mtools).

    esp      FAT    systemd-boot, the kernel and its initramfs, one loader entry
    root     ext4   Debian 12, mounted read-only; the keys and this board's settings in /etc
    payload  ext4   /opt/payload: the A/B slots, installed by the project's own installer
    state    ext4   /var/lib/payload: the controller's state, the file store, the job area
    log      ext4   /var/log: the persistent journal

A manifest beside the disk (DISK.json) records every Debian package with its version, the bundle,
the partitions and the kernel command line. A disk of the same root filesystem, bundle, keys and
settings is kept in the cache and copied from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from flight.image.build import BuildError
from flight.image.bundle import Bundle
from flight.image import firstboot, install
from flight.image.rootfs import JOB_USER, Rootfs
from flight.jobs.sandbox import FILES_MODE

DISK_FORMAT = "payload-disk/1"
SECTOR = 512
MIB = 1 << 20
ALIGN = MIB  # every partition starts on a MiB
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
ROOT_TYPE = {  # the Discoverable Partitions Specification's root types
    "x86_64": "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
    "aarch64": "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
}
EFI_LOADER = {  # systemd-boot, where UEFI firmware looks on removable media
    "x86_64": ("usr/lib/systemd/boot/efi/systemd-bootx64.efi", "EFI/BOOT/BOOTX64.EFI"),
    "aarch64": ("usr/lib/systemd/boot/efi/systemd-bootaa64.efi", "EFI/BOOT/BOOTAA64.EFI"),
}
CONSOLE = {"x86_64": "ttyS0", "aarch64": "ttyAMA0"}
BUS_UART = {"x86_64": "ttyS1", "aarch64": "ttyS0"}  # x86's second UART; a PCI 16550 on virt
BUS_LINK = "ttyPAYLOAD0"  # /dev/ttyPAYLOAD0, the name payload.conf uses on every board
MOUNTS = {  # partition: mount point, options (fstab)
    "payload": ("/opt/payload", "rw,noatime,nodev,nosuid"),
    "state": ("/var/lib/payload", "rw,noatime,nodev,nosuid"),
    "log": ("/var/log", "rw,noatime,nodev,nosuid,noexec"),
}
STARTER = "payload-units.service"
KEEP_DISKS = 3  # cached disks kept per target
ESP_MIB = 128
PAYLOAD_MIB = 1024  # two slots of some tens of MB, with room for larger versions
LOG_MIB = 256


class DiskError(BuildError):
    """The disk could not be written; the message says why."""


@dataclass(frozen=True)
class Partition:
    """One partition of the disk."""

    name: str
    mib: int
    type: str
    start: int = 0  # octets from the start of the disk, once laid out


@dataclass(frozen=True)
class DiskSettings:
    """What the disk holds besides the root filesystem and the bundle."""

    target: str
    keys: bytes  # the controller's key file (/etc/payload/keys.toml)
    site_config: bytes = b""  # /etc/payload/payload.conf: this board's settings, over the slot's
    state_mib: int = 2048
    engineering: bool = False  # the guest agent aboard: the bench's way in (never on flight)
    jobs: dict[str, bytes] = field(default_factory=dict)  # executables for the job area


def build_disk(
    rootfs: Rootfs, bundle: Bundle, settings: DiskSettings, out: Path, cache: Path
) -> dict:
    """Write the disk to ``out`` and its manifest to ``out`` + .json; the manifest."""
    key = _disk_key(rootfs, bundle, settings)
    cached = cache / f"disk-{settings.target}-{key[:16]}.img"
    if not (cached.is_file() and cached.with_suffix(".json").is_file()):
        with tempfile.TemporaryDirectory(dir=cache, prefix=".disk-") as work:
            _assemble(rootfs, bundle, settings, Path(work), cached, key)
        _prune(cache, settings.target)
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(["cp", "--sparse=always", str(cached), str(out)])
    manifest = json.loads(cached.with_suffix(".json").read_text())
    manifest_path = Path(f"{out}.json")
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _prune(cache: Path, target: str) -> None:
    """Keep the newest cached disks of a target only (each is some hundreds of MB)."""
    disks = sorted(cache.glob(f"disk-{target}-*.img"), key=lambda p: p.stat().st_mtime)
    for old in disks[:-KEEP_DISKS]:
        old.unlink()
        old.with_suffix(".json").unlink(missing_ok=True)


def read_manifest(disk: Path) -> dict:
    """The manifest written beside a disk; DiskError naming what is wrong otherwise."""
    if not disk.is_file():
        raise DiskError(f"{disk}: no such disk")
    path = Path(f"{disk}.json")
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DiskError(f"{disk}: no manifest beside it ({path.name}); not a flight disk") from None
    except (OSError, ValueError) as exc:
        raise DiskError(f"{path}: unreadable ({exc})") from None
    try:
        if manifest.get("format") != DISK_FORMAT:
            raise TypeError
        size = sum(int(p["mib"]) for p in manifest["partitions"]) * MIB
    except (AttributeError, KeyError, TypeError, ValueError):
        raise DiskError(f"{path}: not a flight disk manifest ({DISK_FORMAT})") from None
    if disk.stat().st_size < size:
        raise DiskError(f"{disk}: shorter than its partitions ({disk.stat().st_size} < {size})")
    return manifest


def _disk_key(rootfs: Rootfs, bundle: Bundle, settings: DiskSettings) -> str:
    parts = {
        "format": DISK_FORMAT,
        "code": {
            m.__name__: _source_sha256(m) for m in (sys.modules[__name__], install, firstboot)
        },
        "rootfs": rootfs.key,
        "bundle": bundle.manifest_sha256,
        "board": {n: hashlib.sha256(d).hexdigest() for n, d in board_files(settings).items()},
        "state_mib": settings.state_mib,
        "engineering": settings.engineering,
        "jobs": {n: hashlib.sha256(d).hexdigest() for n, d in settings.jobs.items()},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _source_sha256(module: ModuleType) -> str:
    """What decides a cached disk besides its inputs: the code that assembles it and the
    installer that lays out its slots."""
    return hashlib.sha256(Path(str(module.__file__)).read_bytes()).hexdigest()


def _assemble(
    rootfs: Rootfs, bundle: Bundle, settings: DiskSettings, work: Path, cached: Path, key: str
) -> None:
    tree = work / "root"
    tree.mkdir()
    _run(["tar", "-xpf", str(rootfs.tarball), "-C", str(tree), "--numeric-owner"])
    install.install_bundle(bundle, tree)
    machine_id = uuid.uuid4().hex
    _configure(tree, settings, machine_id)
    staged = {name: _move_out(tree, mount, work / name) for name, (mount, _) in MOUNTS.items()}
    esp = _stage_esp(tree, rootfs, settings.target, work / "esp")
    layout = _layout(_tree_mib(tree) + firstboot.install_room_mib(tree), settings)
    partial = cached.with_name(f".{cached.name}.partial")
    _write_gpt(partial, layout)
    by_name = {p.name: p for p in layout}
    _write_fat(partial, by_name["esp"], esp)
    _write_ext4(partial, by_name["root"], tree)
    for name, directory in staged.items():
        _write_ext4(partial, by_name[name], directory)
    manifest = {
        "format": DISK_FORMAT,
        "key": key,
        "target": settings.target,
        "machine_id": machine_id,
        "first_boot": firstboot.unconfigured(tree),  # its packages installed on its first boot
        "engineering": settings.engineering,
        "kernel": rootfs.kernel,
        "cmdline": _cmdline(settings.target),
        "console": CONSOLE[settings.target],
        "bus_uart": BUS_UART[settings.target],
        "bundle": {
            "name": bundle.manifest["name"],
            "version": bundle.version,
            "manifest_sha256": bundle.manifest_sha256,
        },
        "partitions": [
            {"name": p.name, "start": p.start, "mib": p.mib, "type": p.type} for p in layout
        ],
        "packages": rootfs.packages,
    }
    cached.with_suffix(".json").write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(partial, cached)


def board_files(settings: DiskSettings) -> dict[str, bytes]:
    """The board's part of /etc: mounts, the bus UART's name, the watchdogs, the journal, the
    keys and settings, the unit that starts the payload's."""
    target = settings.target
    fstab = ["PARTLABEL=root / ext4 ro,noatime 0 1"]
    fstab += [f"PARTLABEL={name} {mount} ext4 {opts} 0 2" for name, (mount, opts) in MOUNTS.items()]
    fstab += [
        "tmpfs /tmp tmpfs rw,nosuid,nodev,mode=1777 0 0",
        "tmpfs /var/tmp tmpfs rw,nosuid,nodev,mode=1777 0 0",
    ]
    files = {
        "etc/fstab": "\n".join(fstab) + "\n",
        "etc/hostname": "payload\n",
        "etc/udev/rules.d/60-payload-bus.rules": (
            f'KERNEL=="{BUS_UART[target]}", SYMLINK+="{BUS_LINK}", TAG+="systemd"\n'
        ),
        # the controller starts once its bus UART is there (a board without one: it waits)
        "etc/systemd/system/payload-controller.service.d/10-bus.conf": (
            f"[Unit]\nRequires=dev-{BUS_LINK}.device\nAfter=dev-{BUS_LINK}.device\n"
        ),
        # the units live on the image partition, mounted after systemd has loaded units: it
        # loads them again once the partition is there, then starts them
        f"etc/systemd/system/{STARTER}": (
            "[Unit]\nDescription=Payload units from the image partition\n"
            "RequiresMountsFor=/opt/payload /var/lib/payload\n"
            "[Service]\nType=oneshot\nExecStart=/bin/systemctl daemon-reload\n"
            "ExecStart=/bin/systemctl start --no-block payload-controller.service "
            "payload-image-check.timer\n"
        ),
        # PID 1 keeps the hardware watchdog fed; hung, the board resets
        "etc/systemd/system.conf.d/50-watchdog.conf": (
            "[Manager]\nRuntimeWatchdogSec=20s\nRebootWatchdogSec=2min\n"
        ),
        "etc/systemd/journald.conf.d/50-persistent.conf": (
            "[Journal]\nStorage=persistent\nSyncIntervalSec=10s\n"
        ),
        "etc/payload/keys.toml": settings.keys,
        "etc/payload/payload.conf": settings.site_config,
    }
    return {
        name: text if isinstance(text, bytes) else text.encode() for name, text in files.items()
    }


def _configure(tree: Path, settings: DiskSettings, machine_id: str) -> None:
    for name, data in board_files(settings).items():
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (tree / "etc/payload/keys.toml").chmod(0o600)
    # the board's identity, made with the disk: on a read-only root an empty one would be made
    # anew at each boot, and the journal of each boot would be filed under another machine
    (tree / "etc/machine-id").write_text(f"{machine_id}\n")
    # logind's state directory, which it cannot make on a read-only root (and without logind no
    # orderly power-off: the ACPI power button and a scheduled shutdown go through it)
    (tree / "var/lib/systemd/linger").mkdir(mode=0o755, parents=True, exist_ok=True)
    link = tree / "etc/systemd/system/multi-user.target.wants" / STARTER
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(f"/etc/systemd/system/{STARTER}")
    state = tree / MOUNTS["state"][0].lstrip("/")
    (state / "bin").mkdir(parents=True, exist_ok=True)  # the job area
    for name, data in settings.jobs.items():
        (state / "bin" / name).write_bytes(data)
        (state / "bin" / name).chmod(0o755)
    files = state / "files"  # the file store as the controller lays it out (jobs/sandbox.py)
    files.mkdir(exist_ok=True)
    if firstboot.unconfigured(tree):  # the job group is made by the first boot
        mount = f"{MOUNTS['state'][0]}/files"
        step = f"chgrp {JOB_USER} {mount}\nchmod {FILES_MODE:o} {mount}\n"
        firstboot.add_step(tree, "50-file-store", step)
    else:
        os.chown(files, 0, _group_id(tree, JOB_USER))
    os.chmod(files, FILES_MODE)  # set-group-ID: the unit's RestrictSUIDSGID= forbids it later


def _group_id(tree: Path, group: str) -> int:
    for line in (tree / "etc/group").read_text().splitlines():
        name, _, gid, *_ = line.split(":")
        if name == group:
            return int(gid)
    raise DiskError(f"no group {group} in the root filesystem")


def _move_out(tree: Path, mount: str, into: Path) -> Path:
    """Move what the tree holds under a mount point into a directory of its own, leaving the
    mount point empty."""
    source = tree / mount.lstrip("/")
    source.mkdir(parents=True, exist_ok=True)
    shutil.move(source, into)
    source.mkdir()
    shutil.copystat(into, source)
    return into


def _stage_esp(tree: Path, rootfs: Rootfs, target: str, esp: Path) -> Path:
    loader, removable = EFI_LOADER[target]
    files = {
        removable: (tree / loader).read_bytes(),
        "vmlinuz": (tree / f"boot/vmlinuz-{rootfs.kernel}").read_bytes(),
        "initrd.img": (tree / f"boot/initrd.img-{rootfs.kernel}").read_bytes(),
        "loader/loader.conf": b"default flight.conf\ntimeout 0\n",
        "loader/entries/flight.conf": (
            f"title Payload flight software\nlinux /vmlinuz\ninitrd /initrd.img\n"
            f"options {_cmdline(target)}\n"
        ).encode(),
    }
    for name, data in files.items():
        path = esp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return esp


def _cmdline(target: str) -> str:
    return f"root=PARTLABEL=root ro console={CONSOLE[target]},115200 panic=10 quiet"


def _tree_mib(tree: Path) -> int:
    used = int(_run(["du", "-s", "--block-size=1M", str(tree)]).split()[0])
    return used + used // 4 + 128  # ext4's inode tables and journal, and some room


def _layout(root_mib: int, settings: DiskSettings) -> list[Partition]:
    sizes = [
        ("esp", ESP_MIB, ESP_TYPE),
        ("root", root_mib, ROOT_TYPE[settings.target]),
        ("payload", PAYLOAD_MIB, LINUX_TYPE),
        ("state", settings.state_mib, LINUX_TYPE),
        ("log", LOG_MIB, LINUX_TYPE),
    ]
    layout, start = [], ALIGN
    for name, mib, kind in sizes:
        layout.append(Partition(name, mib, kind, start))
        start += mib * MIB
    return layout


def _write_gpt(path: Path, layout: list[Partition]) -> None:
    end = layout[-1].start + layout[-1].mib * MIB + ALIGN  # room for the backup GPT
    path.unlink(missing_ok=True)
    with open(path, "wb") as disk:
        disk.truncate(end)
    script = ["label: gpt"] + [
        f"start={p.start // SECTOR}, size={p.mib * MIB // SECTOR}, type={p.type}, name={p.name}"
        for p in layout
    ]
    _run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(path)], "\n".join(script))


def _write_fat(disk: Path, part: Partition, content: Path) -> None:
    """The FAT file system in a file of its own (mtools mishandles an offset into a disk of
    several GB), then copied into its partition."""
    image = disk.with_name(f"{disk.name}.{part.name}")
    image.unlink(missing_ok=True)
    _run(["mkfs.vfat", "-C", "-F", "32", "-n", part.name.upper(), str(image), str(part.mib * 1024)])
    for directory in sorted(p for p in content.rglob("*") if p.is_dir()):
        _run(["mmd", "-i", str(image), f"::/{directory.relative_to(content)}"])
    for file in sorted(p for p in content.rglob("*") if p.is_file()):
        _run(["mcopy", "-i", str(image), str(file), f"::/{file.relative_to(content)}"])
    with open(image, "rb") as source, open(disk, "r+b") as target:
        target.seek(part.start)
        shutil.copyfileobj(source, target, MIB)
    image.unlink()


def _write_ext4(disk: Path, part: Partition, content: Path) -> None:
    _run(
        [
            "mke2fs",
            "-q",
            "-F",
            "-t",
            "ext4",
            "-L",
            part.name,
            "-d",
            str(content),
            "-E",
            f"offset={part.start}",
            str(disk),
            f"{part.mib}M",
        ]
    )


def _run(command: list[str], stdin: str | None = None) -> str:
    if shutil.which(command[0]) is None:
        how = _PACKAGE_OF.get(command[0], command[0])
        raise DiskError(f"{command[0]} is not installed ({how})")
    env = os.environ | {"MTOOLS_SKIP_CHECK": "1"}  # mtools: a partition's geometry is no disk's
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise DiskError(f"{command[0]} failed (exit {done.returncode}): {last}")
    return done.stdout


_PACKAGE_OF = {  # the Debian package of each tool a build runs
    "sfdisk": "apt-get install fdisk",
    "mkfs.vfat": "apt-get install dosfstools",
    "mmd": "apt-get install mtools",
    "mcopy": "apt-get install mtools",
    "mke2fs": "apt-get install e2fsprogs",
}
