"""The flight computer in a virtual machine: a flight disk built from Debian's packages and this
checkout's bundle boots under QEMU (KVM where it runs guests, TCG here), systemd starts the
controller (Type=notify), whose CONTROLLER_STARTED comes over the bus UART on a host pty; the
board powers off in order (the disk: conftest.py). A missing or corrupt disk, a disk whose
kernel is for another machine than its manifest says, and a missing QEMU are refused in one line,
nothing started. The rest of systemd's work, rollbacks and power cuts: make test-vm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flight.image.disk import DISK_FORMAT, DiskSettings, _layout, _write_fat, _write_gpt
from hil.flight_vm import FlightVm, VmError, events_until, kernel_machine, qemu_for
from tests.hil.conftest import BOOT_LIMIT_S


def test_the_flight_disk_boots_and_systemd_starts_the_controller_on_the_bus_uart(flight_disk):
    image, work = flight_disk
    master, slave = os.openpty()
    vm = FlightVm(image, work / "run", os.ttyname(slave))
    try:
        vm.start()
        assert vm.accel in ("kvm", "tcg") and vm.accel_reason
        events = events_until(master, "CONTROLLER_STARTED", time.monotonic() + BOOT_LIMIT_S)
        boot_s = time.monotonic() - vm.started_at
        print(
            f"CONTROLLER_STARTED {boot_s:.1f} s after QEMU started ({vm.accel}: {vm.accel_reason})"
        )
        assert "CONTROLLER_STARTED" in events
        hung = time.monotonic()
        vm.hang_controller()  # systemd's watchdog (WatchdogSec=10) kills it; Restart= again
        events_until(master, "CONTROLLER_STARTED", time.monotonic() + BOOT_LIMIT_S)
        print(f"restarted {time.monotonic() - hung:.1f} s after the hang")
        assert vm.unit_figures() == {"watchdog_expiries": 1, "controller_restarts": 1}
        assert vm.shutdown(timeout=BOOT_LIMIT_S) == 0  # in order, not cut
        assert (
            "payload-controller.service: Watchdog timeout"
            in (vm.out_dir / "vm-journal.log").read_text()
        )
    finally:
        vm.power_cut()
        os.close(master)
        os.close(slave)
    console = vm.console_log.read_text(errors="replace")
    assert "Orbital GPU payload controller" in console or "reboot: Power down" in console


def test_the_default_scenario_passes_against_the_flight_computer_vm(flight_disk, tmp_path):
    image, work = flight_disk
    out = tmp_path / "run"
    run = subprocess.run(
        [sys.executable, "-P", "-m", "hil", "run", "--out", str(out), "--flight-vm", str(image),
         "--keys", str(work / "keys")],
        capture_output=True, text=True, check=False, timeout=BOOT_LIMIT_S * 2,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["result"] == "pass" and all(c["passed"] for c in report["checks"])
    assert report["figures"]["flight_vm_boot_s"] > 0
    notes = [row["what"] for row in report["timeline"]]
    assert any(n.startswith("flight computer VM booting (tcg") or "(kvm" in n for n in notes)
    journal = (out / "vm-journal.log").read_text()
    assert "Started payload-controller.service" in journal
    assert image.read_bytes()[:4096] == (out / "flight-disk.img").read_bytes()[:4096]


def fake_disk(tmp_path: Path, kernel: bytes, target: str = "x86_64") -> Path:
    """A disk with a partition table, a boot partition holding ``kernel``, and a manifest."""
    settings = DiskSettings(target, keys=b"", state_mib=1)
    layout = _layout(1, settings)
    disk = tmp_path / "disk.img"
    _write_gpt(disk, layout)
    esp = tmp_path / "esp"
    esp.mkdir()
    (esp / "vmlinuz").write_bytes(kernel)
    (esp / "initrd.img").write_bytes(b"initramfs")
    _write_fat(disk, layout[0], esp)
    partitions = [{"name": p.name, "start": p.start, "mib": p.mib} for p in layout]
    manifest = {"format": DISK_FORMAT, "target": target, "partitions": partitions, "cmdline": ""}
    Path(f"{disk}.json").write_text(json.dumps(manifest))
    return disk


def test_a_bad_disk_or_a_missing_qemu_is_refused_in_one_line_and_nothing_starts(
    tmp_path, monkeypatch
):
    arm64 = bytearray(4096)
    arm64[0x38:0x3C] = b"ARM\x64"
    x86 = bytearray(4096)
    x86[0x202:0x206] = b"HdrS"
    assert kernel_machine(bytes(arm64)) == "aarch64" and kernel_machine(bytes(x86)) == "x86_64"
    assert kernel_machine(b"\0" * 4096) is None
    with pytest.raises(VmError, match="no such disk"):
        FlightVm(tmp_path / "none.img", tmp_path / "run", "/dev/null")
    disk = fake_disk(tmp_path, bytes(arm64))
    vm = FlightVm(disk, tmp_path / "run", "/dev/null")
    with pytest.raises(VmError, match="its kernel is for aarch64, its manifest says x86_64"):
        vm.start()
    assert vm.process is None
    with open(disk, "r+b") as damaged:  # the boot partition's FAT gone
        damaged.seek(1 << 20)
        damaged.write(b"\0" * 65536)
    with pytest.raises(VmError, match="no vmlinuz on its boot partition"):
        FlightVm(disk, tmp_path / "run", "/dev/null").start()
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without QEMU
    with pytest.raises(VmError, match="apt-get install qemu-system-x86"):
        qemu_for("x86_64")
