"""An unpacked root filesystem readied for its first boot (flight/image/firstboot.py), on a tree
holding one real package built here: the manifest's package list comes from the package itself,
the initramfs is a newc cpio holding busybox, the module list and the init that mounts the root,
the first-boot program and its steps are in place and are valid shell, what dpkg's options leave
out is trimmed but the licences, the root has room to unpack the largest package again; a tree
with no packages or no modules is refused in one line. Booting such a disk:
tests/hil/test_flight_vm_aarch64.py (make test-vm)."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from flight.image import firstboot
from flight.image.firstboot import FirstBootError

KERNEL = "6.1.0-99-test"
LISTED = "usr/share/payload-disk/packages.tsv"


def unpacked_tree(tmp_path: Path) -> Path:
    """A tree as mmdebstrap --variant=extract leaves it: one package in the apt archive, a
    kernel's (empty) module directory, busybox, documentation."""
    package = tmp_path / "pkg"
    (package / "DEBIAN").mkdir(parents=True)
    (package / "DEBIAN/control").write_text(
        "Package: payload-test\nVersion: 1.2-3\nArchitecture: arm64\nInstalled-Size: 307200\n"
        "Maintainer: payload <payload@example.org>\nDescription: a test package\n"
    )
    tree = tmp_path / "root"
    (tree / firstboot.ARCHIVES).mkdir(parents=True)
    subprocess.run(
        ["dpkg-deb", "--build", str(package), str(tree / firstboot.ARCHIVES / "test.deb")],
        check=True, capture_output=True,
    )  # fmt: skip
    (tree / "lib/modules" / KERNEL).mkdir(parents=True)
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/busybox").write_bytes(b"\x7fELF busybox")
    for path in ("usr/share/doc/payload-test/copyright", "usr/share/doc/payload-test/README",
                 "usr/share/man/man1/x.1.gz", "usr/share/locale/de/LC_MESSAGES/x.mo"):  # fmt: skip
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_text(path)
    conf = tree / "etc/initramfs-tools/update-initramfs.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("update_initramfs=yes\nbackup_initramfs=no\n")
    return tree


def test_a_tree_is_readied_for_its_first_boot(tmp_path):
    tree = unpacked_tree(tmp_path)
    assert firstboot.install_room_mib(tree) == 0  # nothing to install on a first boot yet
    packages = firstboot.ready(tree, KERNEL, (), LISTED, "payload-job")
    assert firstboot.install_room_mib(tree) == 301  # the largest package, unpacked beside itself
    assert packages == [{"package": "payload-test", "version": "1.2-3", "architecture": "arm64"}]
    assert (tree / LISTED).read_text() == "payload-test\t1.2-3\tarm64\n"
    assert firstboot.unconfigured(tree)
    assert (tree / firstboot.FIRST_BOOT).stat().st_mode & 0o755 == 0o755
    steps = sorted(p.name for p in (tree / firstboot.STEPS).iterdir())
    assert (
        steps == ["10-job-user"]
        and "payload-job" in (tree / firstboot.STEPS / steps[0]).read_text()
    )
    for script in (tree / firstboot.FIRST_BOOT, tree / firstboot.STEPS / steps[0]):
        assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    assert "update_initramfs=no" in (tree / "etc/initramfs-tools/update-initramfs.conf").read_text()
    assert (tree / "usr/share/doc/payload-test/copyright").is_file()
    assert not (tree / "usr/share/doc/payload-test/README").exists()
    assert not any((tree / "usr/share/man").rglob("*.gz"))
    assert not any((tree / "usr/share/locale").rglob("*.mo"))
    archive = gzip.decompress((tree / f"boot/initrd.img-{KERNEL}").read_bytes())
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=archive, capture_output=True)
    assert set(listing.stdout.decode().split()) >= {"init", "bin/busybox", "etc/modules.order"}
    work = tmp_path / "initramfs"
    work.mkdir()
    subprocess.run(["cpio", "-id", "--quiet"], input=archive, cwd=work, check=True)
    init = (work / "init").read_text()
    assert init.startswith("#!/bin/busybox sh") and f"/root/{firstboot.UNCONFIGURED}" in init
    assert subprocess.run(["sh", "-n", str(work / "init")]).returncode == 0


def test_a_tree_without_packages_or_modules_is_refused_in_one_line(tmp_path):
    tree = unpacked_tree(tmp_path)
    with pytest.raises(FirstBootError, match="no modules for kernel 0.0-none"):
        firstboot.initramfs(tree, "0.0-none", ("ext4",))
    (tree / firstboot.ARCHIVES / "test.deb").unlink()
    with pytest.raises(FirstBootError, match="no packages in .* to install on the first boot"):
        firstboot.ready(tree, KERNEL, (), LISTED, "payload-job")
    assert not firstboot.unconfigured(tree)
