"""The flight computer VM's times under real systemd, beside the guest's own boot: boot to
CONTROLLER_STARTED on the bus UART (from QEMU's start), against the time systemd took to reach
its default target in the same boot (systemd-analyze: kernel plus userspace), so that the
controller's share shows; and the controller's restart, measured from the fault to its next
CONTROLLER_STARTED, after a hang (SIGSTOP: systemd's watchdog, WatchdogSec=) and after a crash
(SIGSEGV: Restart=). BOOTS boots of a copy of the disk, HANGS hangs and one crash in each.

    python bench/flight_vm.py DISK [--boots 3] [--hangs 2] [--json FILE]

DISK is an engineering flight disk (make vm-disk). Exits 1 when the median boot misses 30 s or
the median restart after a hang misses the unit's WatchdogSec plus 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from hil.flight_vm import UNIT, FlightVm, VmError, copy_disk, events_until  # noqa: E402

BOOT_TARGET_S = 30.0
RESTART_MARGIN_S = 5.0  # after a hang, within WatchdogSec plus this
LIMIT_S = 300.0  # a generous bound for one wait; the times are measured, not this
# systemd's default target: graphical.target on Debian unless set (it pulls in multi-user.target)
_ANALYZE = re.compile(r"(?:graphical|multi-user)\.target reached after ([\d.]+)(m?s) in userspace")
_KERNEL = re.compile(r"Startup finished in ([\d.]+)(m?s) \(kernel\)")


def _seconds(value: str, unit: str) -> float:
    return float(value) / (1000 if unit == "ms" else 1)


_SPAN_UNITS = {"h": 3600.0, "min": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


def _span_s(text: str) -> float:
    """A time span as systemctl shows it ("10s", "1min 30s", "500ms") in seconds."""
    parts = re.findall(r"([\d.]+)(h|min|ms|us|s)\b", text)
    if not parts:
        raise VmError(f"not a time span: {text.strip()!r}")
    return sum(float(value) * _SPAN_UNITS[unit] for value, unit in parts)


def _restart(vm: FlightVm, master: int, fault) -> float:
    mark = time.monotonic()
    fault()
    events_until(master, "CONTROLLER_STARTED", mark + LIMIT_S)
    return time.monotonic() - mark


def one_boot(disk: Path, work: Path, hangs: int) -> dict:
    """One boot of a fresh copy of the disk: its times."""
    master, slave = os.openpty()
    vm = FlightVm(copy_disk(disk, work / "disk.img"), work, os.ttyname(slave))
    try:
        vm.start()
        events_until(master, "CONTROLLER_STARTED", vm.started_at + LIMIT_S)
        boot_s = time.monotonic() - vm.started_at
        analyze = ""
        while "reached after" not in analyze and time.monotonic() < vm.started_at + LIMIT_S:
            analyze = vm.run_in_guest("systemd-analyze time")[1]  # once startup has finished
            time.sleep(1)
        kernel, userspace = _KERNEL.search(analyze), _ANALYZE.search(analyze)
        if kernel is None or userspace is None:
            raise VmError(f"systemd-analyze said: {analyze.strip()!r}")
        watchdog_s = _span_s(vm.run_in_guest(f"systemctl show -P WatchdogUSec {UNIT}")[1])
        hang_s = [_restart(vm, master, vm.hang_controller) for _ in range(hangs)]
        crash = f"systemctl kill --kill-whom=main --signal=SIGSEGV {UNIT}"
        crash_s = _restart(vm, master, lambda: vm.run_in_guest(crash))
        vm.shutdown(LIMIT_S)
    finally:
        vm.power_cut()
        os.close(master)
        os.close(slave)
    return {
        "accel": vm.accel,
        "boot_to_controller_started_s": boot_s,
        "systemd_startup_s": _seconds(*kernel.groups()) + _seconds(*userspace.groups()),
        "watchdog_s": watchdog_s,
        "restart_after_hang_s": hang_s,
        "restart_after_crash_s": crash_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("disk", type=Path)
    parser.add_argument("--boots", type=int, default=3)
    parser.add_argument("--hangs", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [one_boot(args.disk, Path(tmp) / str(i), args.hangs) for i in range(args.boots)]
    except VmError as exc:
        print(f"flight_vm: {exc}", file=sys.stderr)
        return 2
    boot = statistics.median(r["boot_to_controller_started_s"] for r in runs)
    system = statistics.median(r["systemd_startup_s"] for r in runs)
    hang = statistics.median(s for r in runs for s in r["restart_after_hang_s"])
    crash = statistics.median(r["restart_after_crash_s"] for r in runs)
    watchdog_s = runs[0]["watchdog_s"]
    result = {
        "accel": runs[0]["accel"],
        "runs": runs,
        "median_boot_s": boot,
        "median_systemd_startup_s": system,
        "boot_over_systemd": boot / system,
        "median_restart_after_hang_s": hang,
        "median_restart_after_crash_s": crash,
    }
    print(f"flight computer VM ({result['accel']}), {args.boots} boots, medians:")
    print(
        f"  boot to CONTROLLER_STARTED {boot:.1f} s (target {BOOT_TARGET_S:g} s); systemd reached "
        f"its default target in {system:.1f} s: ratio {boot / system:.2f}"
    )
    print(
        f"  restart after a hang {hang:.1f} s (target WatchdogSec {watchdog_s:g} + "
        f"{RESTART_MARGIN_S:g} s); after a crash {crash:.1f} s"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    missed = boot > BOOT_TARGET_S or hang > watchdog_s + RESTART_MARGIN_S
    if missed:
        print("flight_vm: a target is missed", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
