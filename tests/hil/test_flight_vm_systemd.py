"""Real systemd on the flight computer VM (make test-vm): readiness by Type=notify, Restart= and
the boot guard after a crash, the unit's sandboxing in force on a job, and the hardware watchdog
(i6300esb, driven by systemd's RuntimeWatchdogSec=) resetting a board whose PID 1 froze and one
whose kernel hung, the controller coming back each time on the bus UART. One bench session in
real time, through the bench's test API and the guest's agent; the times are printed. And the
watchdog scenario, unchanged, against the VM."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from hil.bench import BenchConfig
from hil.flight_vm import UNIT, FlightVm
from hil.testapi import HilBench
from tests.hil.conftest import BOOT_LIMIT_S

pytestmark = [pytest.mark.vm_full, pytest.mark.timeout(900)]
STATE = "/var/lib/payload"


def guest(vm: FlightVm, command: str) -> str:
    status, out = vm.run_in_guest(command)
    assert status == 0, (command, out)
    return out


def back_after(hil: HilBench, fault, what: str) -> float:
    """Seconds from ``fault`` to the controller's next CONTROLLER_STARTED."""
    mark = time.monotonic()
    fault()
    hil.await_event("CONTROLLER_STARTED", within_s=BOOT_LIMIT_S, since_command=False)
    seconds = time.monotonic() - mark
    print(f"{what}: CONTROLLER_STARTED {seconds:.1f} s later")
    return seconds


def test_systemd_runs_watches_confines_and_restarts_the_controller(flight_disk, tmp_path):
    image, work = flight_disk
    config = BenchConfig(tmp_path / "run", speed=1.0, keys=work / "keys", flight_vm=image)
    hil = HilBench(config).start()
    try:
        vm = hil.flight_vm
        assert vm is not None

        # Type=notify: systemd calls the unit started only once the controller said READY=1,
        # which it says after CONTROLLER_STARTED (with Type=simple "Started" comes at the fork)
        assert guest(vm, f"systemctl show -P Type {UNIT}").strip() == "notify"
        journal = guest(vm, "journalctl -b -o cat --no-pager").splitlines()
        said = next(i for i, line in enumerate(journal) if "event CONTROLLER_STARTED" in line)
        started = next(i for i, line in enumerate(journal) if line.startswith(f"Started {UNIT}"))
        assert said < started

        # the sandbox: a job writes in its own directory, and nowhere else: not in a directory
        # its own account owns where ProtectSystem=strict keeps the mount read-only (outside
        # ReadWritePaths=), not in the file store, which its account may only read
        owned = "/var/log/job-owned"  # on the log partition, writable outside the unit
        guest(vm, f"install -d -o payload-job {owned}")
        probe = ["write-probe", f"{owned}/probe", f"{STATE}/files/probe", "mine"]
        hil.send_command("SUBMIT_JOB", {"manifest": {"id": "probe-1", "command": probe}})
        hil.await_event("JOB_COMPLETED", {"job_id": "probe-1"}, within_s=120)
        out = guest(vm, f"cat {STATE}/jobs/probe-1/stdout.log")
        assert f"{owned}/probe EROFS" in out, out
        assert f"{STATE}/files/probe EACCES" in out, out
        assert "mine written" in out, out
        assert "payload-job-probe-1-1.scope" in guest(vm, "journalctl -b -o cat --no-pager")
        # the same account outside the unit writes there: the refusal is the sandbox's
        outside = guest(vm, f"runuser -u payload-job -- {STATE}/bin/write-probe {owned}/probe")
        assert f"{owned}/probe written" in outside, outside

        # a crash: Restart= starts it again, through the boot guard (ExecStartPre=)
        guards = guest(vm, f"journalctl -b -u {UNIT} -o cat --no-pager").count("payload-boot:")
        back_after(
            hil,
            lambda: vm.run_in_guest(f"systemctl kill --kill-whom=main --signal=SIGSEGV {UNIT}"),
            "controller killed by SIGSEGV",
        )
        assert guest(vm, f"systemctl show -P NRestarts {UNIT}").strip() == "1"
        journal_text = guest(vm, f"journalctl -b -u {UNIT} -o cat --no-pager")
        assert "status=11/SEGV" in journal_text
        assert journal_text.count("payload-boot:") == guards + 1

        # the hardware watchdog: a frozen PID 1, then a hung kernel, each reset the board; the
        # journal of each boot is kept (up to its last SyncIntervalSec=, 10 s, before the hang:
        # synced here first, so that each boot has its entries on the disk)
        boots = [guest(vm, "cat /proc/sys/kernel/random/boot_id").strip()]
        for fault, what in ((vm.freeze_init, "PID 1 frozen"), (vm.hang_kernel, "kernel hung")):
            guest(vm, "journalctl --sync")
            back_after(hil, fault, what)
            assert vm.alive()  # the same QEMU: the board was reset, not started again
            boots.append(guest(vm, "cat /proc/sys/kernel/random/boot_id").strip())
        assert len(set(boots)) == 3, boots
        listed = guest(vm, "journalctl --list-boots --no-pager")
        assert all(boot.replace("-", "") in listed.replace("-", "") for boot in boots), listed
    finally:
        report = hil.stop()
    assert report.error is None, report.error


def test_the_watchdog_scenario_passes_against_the_flight_computer_vm(flight_disk, tmp_path):
    """Its job is adopted across systemd's watchdog restart because it runs in a scope of its
    own (--job-scopes). At x2, not its x5: the job's hash chain needs about 120 s of TCG's CPU
    (7 s on this host), and at x5 the run's 600 bus seconds are 120 wall seconds."""
    image, work = flight_disk
    out = tmp_path / "run"
    run = subprocess.run(
        [sys.executable, "-P", "-m", "hil", "run", "watchdog", "--speed", "2", "--out", str(out),
         "--flight-vm", str(image), "--keys", str(work / "keys")],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["result"] == "pass" and all(c["passed"] for c in report["checks"])
    assert report["figures"]["watchdog_expiries"] == 1
