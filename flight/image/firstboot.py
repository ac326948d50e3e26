"""A root filesystem of another architecture than the builder's (docs/image.md, "aarch64"). Its
packages are unpacked here but installed by the board itself on its first boot: their
maintainer scripts are the target's programs, which this machine cannot run (no binfmt_misc).
This module readies such a tree:

- the initramfs, made here from the target's busybox and kernel modules (mkinitramfs would run
  the target's programs): it loads the drivers, mounts the root by its partition label, and
  hands over to systemd, or on the first boot to the first-boot program;
- the first-boot program, which installs every package with the board's own dpkg (the essential
  ones first, as debootstrap's second stage does), runs the disk's own first-boot steps, checks
  that what is installed is what the disk's manifest lists, and reboots into systemd;
- the package list the manifest records, read here from the packages themselves.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from pathlib import Path

from flight.image.build import BuildError

FIRST_BOOT = "usr/lib/payload-disk/first-boot"
UNCONFIGURED = "etc/payload-disk/unconfigured"  # there until the first boot has finished
STEPS = "etc/payload-disk/first-boot.d"  # the disk's own steps, run once the packages are in
ARCHIVES = "var/cache/apt/archives"
SHOW_FORMAT = "${Package}\\t${Version}\\t${Architecture}\\n"
# what dpkg would leave out (rootfs.DPKG_OPTIONS): removed here, since extracting ignored them
TRIMMED = ("usr/share/man", "usr/share/locale", "usr/share/doc")

INIT = """#!/bin/busybox sh
# The flight disk's initramfs (flight/image/firstboot.py): drivers, the root, then systemd.
/bin/busybox --install -s /bin
export PATH=/bin
die() { echo "initramfs: $*"; sleep 10; reboot -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for module in $(cat /etc/modules.order); do insmod "$module"; done
label=root
for word in $(cat /proc/cmdline); do
    case "$word" in root=PARTLABEL=*) label="${word#root=PARTLABEL=}";; esac
done
device=
tries=0
while [ -z "$device" ] && [ $tries -lt 300 ]; do
    for uevent in /sys/class/block/*/uevent; do
        if grep -qx "PARTNAME=$label" "$uevent"; then
            device=/dev/$(sed -n 's/^DEVNAME=//p' "$uevent")
        fi
    done
    [ -n "$device" ] || { sleep 0.1; tries=$((tries + 1)); }
done
[ -n "$device" ] || die "no partition labelled $label"
mkdir -p /root
mount -t ext4 -o ro "$device" /root || die "cannot mount $device"
init=/sbin/init
if [ -e /root/@UNCONFIGURED@ ]; then
    mount -o remount,rw /root
    init=/@FIRST_BOOT@
fi
mount --move /dev /root/dev
umount /sys /proc
exec switch_root /root "$init"
"""

FIRST_BOOT_SCRIPT = """#!/bin/sh
# The board's first boot (flight/image/firstboot.py): the packages unpacked where the disk was
# built are installed here by the board's own dpkg, then the board reboots into systemd.
export PATH=/usr/sbin:/usr/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive
export INITRD=No  # the kernel's hook makes no initramfs: the disk's own is the one it boots
say() { echo "payload-disk: $*" > /dev/console; }
fail() { say "first boot failed: $*; the board powers off"; sync; busybox poweroff -f; }
mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t tmpfs tmpfs /run \\
    && mount -a || fail "cannot mount the file systems"
log=/var/log/payload-first-boot.log
cd /@ARCHIVES@ || fail "no packages"
essential=; rest=; count=0
for deb in *.deb; do
    count=$((count + 1))
    if [ "$(dpkg-deb -f "$deb" Essential)" = yes ]; then
        essential="$essential $deb"
    else
        rest="$rest $deb"
    fi
done
say "first boot: installing $count packages (log: $log)"
# no service starts while the packages go in; systemd starts them once they are all in
printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
# unsafe-io: no fsync per file (a power cut before the end leaves the marker, and the next boot
# installs again); everything is synced before the marker goes
options="--force-depends --force-confold --force-confdef --force-unsafe-io"
dpkg $options --install $essential >> $log 2>&1 || fail "the essential packages (see $log)"
dpkg $options --install $rest >> $log 2>&1 || fail "the packages (see $log)"
dpkg --configure --pending >> $log 2>&1 || fail "dpkg --configure (see $log)"
[ -z "$(dpkg --audit)" ] || fail "dpkg --audit: $(dpkg --audit | head -n 1)"
rm -f /usr/sbin/policy-rc.d
for step in /@STEPS@/*; do
    [ -e "$step" ] || continue
    sh -e "$step" >> $log 2>&1 || fail "step $step (see $log)"
done
listed=/@PACKAGE_LIST@
dpkg-query -W -f '@SHOW_FORMAT@' | sort > /run/installed
sort "$listed" | cmp -s - /run/installed || fail "what is installed is not what $listed lists"
sync  # everything installed is on the disk before the marker goes
rm -f /@UNCONFIGURED@
sync  # then the packages: a cut between the two leaves them, never the marker without them
rm -f *.deb
uptime=$(cut -d ' ' -f 1 /proc/uptime)
say "first boot: $count packages installed, $uptime s after the kernel started; rebooting"
sync
umount -a -t ext4 2>/dev/null
mount -o remount,ro /
busybox reboot -f
"""


class FirstBootError(BuildError):
    """The tree cannot be readied for its first boot; the message says why."""


def ready(
    tree: Path, kernel: str, modules: tuple[str, ...], package_list: str, job_user: str
) -> list[dict[str, str]]:
    """Ready an unpacked tree (mmdebstrap --variant=extract, with the packages kept in its
    apt archive) to be installed on its first boot; every package it holds, with its version
    and architecture, as the manifest records them."""
    debs = sorted((tree / ARCHIVES).glob("*.deb"))
    if not debs:
        raise FirstBootError(f"no packages in {tree / ARCHIVES} to install on the first boot")
    listing = "".join(_run(["dpkg-deb", "--show", f"--showformat={SHOW_FORMAT}", str(deb)])
                      for deb in debs)  # fmt: skip
    for path in TRIMMED:
        _trim(tree / path)
    (tree / package_list).parent.mkdir(parents=True, exist_ok=True)
    (tree / package_list).write_text(listing)
    # the disk's own initramfs is the one: initramfs-tools' trigger would replace it (update -u)
    conf = tree / "etc/initramfs-tools/update-initramfs.conf"
    if conf.is_file():
        conf.write_text(conf.read_text().replace("update_initramfs=yes", "update_initramfs=no"))
    script = (
        FIRST_BOOT_SCRIPT.replace("@ARCHIVES@", ARCHIVES)
        .replace("@STEPS@", STEPS)
        .replace("@PACKAGE_LIST@", package_list)
        .replace("@SHOW_FORMAT@", SHOW_FORMAT)
        .replace("@UNCONFIGURED@", UNCONFIGURED)
    )
    _write(tree / FIRST_BOOT, script.encode(), 0o755)
    _write(tree / UNCONFIGURED, b"", 0o644)
    add_step(tree, "10-job-user", f"id -u {job_user} >/dev/null 2>&1 || useradd --system "
             f"--no-create-home --shell /usr/sbin/nologin {job_user}\n")  # fmt: skip
    _write(tree / f"boot/initrd.img-{kernel}", initramfs(tree, kernel, modules), 0o644)
    return [
        dict(zip(("package", "version", "architecture"), line.split("\t"), strict=True))
        for line in listing.splitlines()
    ]


def unconfigured(tree: Path) -> bool:
    """Whether the tree's packages are still to be installed on its first boot."""
    return (tree / UNCONFIGURED).exists()


def install_room_mib(tree: Path) -> int:
    """The room the first boot needs on the root besides what the tree holds: dpkg writes each
    package's files beside the unpacked ones before it renames them, so the largest package's
    installed size (0 for a tree already installed)."""
    if not unconfigured(tree):
        return 0
    sizes = [
        int(_run(["dpkg-deb", "--show", "--showformat=${Installed-Size}", str(deb)]) or 0)
        for deb in (tree / ARCHIVES).glob("*.deb")
    ]
    return max(sizes, default=0) // 1024 + 1


def add_step(tree: Path, name: str, script: str) -> None:
    """A shell step the first boot runs once the packages are in (as root, set -e); a power
    cut may run it again on the next boot, so it must do no harm twice."""
    _write(tree / STEPS / name, script.encode(), 0o644)


def initramfs(tree: Path, kernel: str, modules: tuple[str, ...]) -> bytes:
    """The initramfs (a gzipped newc cpio): the tree's busybox, the kernel modules named with
    everything they depend on (in the order to load them), and the init that mounts the root."""
    base = tree / "lib/modules" / kernel
    if not base.is_dir():
        raise FirstBootError(f"no modules for kernel {kernel} in the root filesystem")
    _run(["depmod", "-b", str(tree), kernel])
    order: list[str] = []
    for module in modules:
        shown = _run(["modprobe", "-d", str(tree), "-S", kernel, "--show-depends", module])
        for line in shown.splitlines():
            words = line.split()
            if words[:1] == ["insmod"] and words[1] not in order:
                order.append(words[1])
    with tempfile.TemporaryDirectory(prefix="initramfs-") as work:
        root = Path(work)
        for directory in ("bin", "dev", "etc", "proc", "sys", "root"):
            (root / directory).mkdir()
        shutil.copy2(tree / "usr/bin/busybox", root / "bin/busybox")
        for path in order:
            inside = Path(path.removeprefix(str(tree)))
            (root / inside.relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, root / inside.relative_to("/"))
        listed = [str(Path(p.removeprefix(str(tree)))) for p in order]
        (root / "etc/modules.order").write_text("\n".join(listed) + "\n")
        init = INIT.replace("@UNCONFIGURED@", UNCONFIGURED).replace("@FIRST_BOOT@", FIRST_BOOT)
        _write(root / "init", init.encode(), 0o755)
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        archive = subprocess.run(
            ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0", "--reproducible"],
            cwd=root,
            input=("\n".join(names) + "\n").encode(),
            capture_output=True,
        )
    if archive.returncode != 0:
        raise FirstBootError(f"cpio failed: {archive.stderr.decode(errors='replace').strip()}")
    return gzip.compress(archive.stdout, mtime=0)


def _trim(path: Path) -> None:
    """Remove what dpkg's path-exclude options leave out, keeping each package's licence
    (usr/share/doc/PACKAGE/copyright)."""
    if not path.is_dir():
        return
    for item in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if item.name == "copyright" and item.parent.parent == path and path.name == "doc":
            continue
        if item.is_dir() and not item.is_symlink():
            if not any(item.iterdir()):
                item.rmdir()
        else:
            item.unlink()


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def _run(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        raise FirstBootError(f"{command[0]} is not installed ({_PACKAGE_OF[command[0]]})")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise FirstBootError(f"{command[0]} failed (exit {done.returncode}): {last}")
    return done.stdout


_PACKAGE_OF = {
    "dpkg-deb": "apt-get install dpkg",
    "depmod": "apt-get install kmod",
    "modprobe": "apt-get install kmod",
}
