"""The AArch64 flight disk under qemu-system-aarch64 -M virt (TCG on this x86-64 machine): its
packages, unpacked where it was built, are installed by the board on its first boot
(flight/image/firstboot.py), which then reboots into systemd. The controller starts on the bus
UART (a PCI 16550), what dpkg installed on board is what the disk's manifest lists, a second boot
installs nothing, and the default scenario passes over that UART against the installed disk."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from hil.flight_vm import FlightVm, boot_limit_s, copy_disk, events_until
from tests.hil.conftest import BOOT_LIMIT_S, bench_disk

pytestmark = [pytest.mark.vm_full, pytest.mark.timeout(7200)]
LIST = "dpkg-query -W -f '${Package}\\t${Version}\\t${Architecture}\\n'"


@pytest.fixture(scope="module")
def aarch64_disk(tmp_path_factory):
    """An AArch64 disk of this checkout's bundle, with the sample jobs and the guest agent."""
    if os.geteuid() != 0:
        pytest.skip("building a flight disk needs root (mmdebstrap --mode=root)")
    work = tmp_path_factory.mktemp("vm-aarch64")
    image, manifest = bench_disk(work, "aarch64", {})
    assert manifest["first_boot"] is True and manifest["bus_uart"] == "ttyS0"
    assert manifest["kernel"].endswith("-arm64")
    return image, work


def test_the_aarch64_disk_installs_itself_on_its_first_boot_then_runs_the_default_scenario(
    aarch64_disk, tmp_path
):
    image, work = aarch64_disk
    manifest = json.loads(image.with_name("disk.img.json").read_text())
    listed = {(p["package"], p["version"], p["architecture"]) for p in manifest["packages"]}
    board = copy_disk(image, tmp_path / "board.img")
    master, slave = os.openpty()
    vm = FlightVm(board, tmp_path / "boots", os.ttyname(slave))
    try:
        vm.start()
        assert vm.accel == "tcg" and "aarch64 guest" in vm.accel_reason
        events_until(master, "CONTROLLER_STARTED", time.monotonic() + boot_limit_s(board))
        first_s = time.monotonic() - vm.started_at
        console = vm.console_log.read_text(errors="replace")
        installed = re.search(r"first boot: (\d+) packages installed, ([\d.]+) s after", console)
        assert installed, console[-2000:]
        assert int(installed.group(1)) == len(listed)
        print(f"first boot: installed in {installed.group(2)} s of guest uptime; "
              f"CONTROLLER_STARTED {first_s:.1f} s after QEMU started")  # fmt: skip
        status, out = vm.run_in_guest(LIST, timeout=120)
        assert status == 0
        on_board = {tuple(line.split("\t")) for line in out.splitlines()}
        assert on_board == listed
        status, out = vm.run_in_guest(
            "uname -m; readlink -f /dev/ttyPAYLOAD0; test -c /dev/watchdog0 && echo watchdog; "
            "stat -c '%G %a' /var/lib/payload/files; findmnt -no OPTIONS /; "
            "test -e /etc/payload-disk/unconfigured || echo configured; dpkg --audit",
            timeout=120,
        )
        assert status == 0, out
        assert out.split() == ["aarch64", "/dev/ttyS0", "watchdog", "payload-job", "2750",
                               *out.split()[5:6], "configured"], out  # fmt: skip
        assert out.split()[5].startswith("ro,")
        vm.power_cycle()  # the second boot: systemd straight away
        events_until(master, "CONTROLLER_STARTED", time.monotonic() + BOOT_LIMIT_S)
        second_s = time.monotonic() - vm.started_at
        print(f"second boot: CONTROLLER_STARTED {second_s:.1f} s after QEMU started")
        assert console.count("installing") == vm.console_log.read_text().count("installing")
        assert vm.shutdown(timeout=BOOT_LIMIT_S) == 0
    finally:
        vm.power_cut()
        os.close(master)
        os.close(slave)
    out = tmp_path / "run"
    run = subprocess.run(
        [sys.executable, "-P", "-m", "hil", "run", "--out", str(out), "--flight-vm", str(board),
         "--keys", str(work / "keys")],
        capture_output=True, text=True, check=False, timeout=boot_limit_s(board) * 2,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["result"] == "pass" and all(c["passed"] for c in report["checks"])
    print(f"default scenario: CONTROLLER_STARTED {report['figures']['flight_vm_boot_s']} s, "
          f"{len(report['checks'])} checks passed")  # fmt: skip
