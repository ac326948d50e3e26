"""The processes of a bench run: the flight controller and the ground station, each logging to a
file in the output directory, stopped with SIGTERM (then SIGKILL) when the run ends.

A process started with a watchdog is watched as systemd watches a Type=notify service with
WatchdogSec and Restart=on-failure: it gets NOTIFY_SOCKET and WATCHDOG_USEC; once it has said
READY=1, a WATCHDOG=1 must come within every watchdog period, else it is killed (SIGKILL: the
unit's WatchdogSignal, which leaves no core file behind) and started again, as it is when it exits
on its own with a failure.

A controller run from an installed flight image (docs/image.md) is started as its systemd unit
starts it: the image's boot guard first (``payload-boot start``, the unit's ExecStartPre: it
counts the starts of a version on trial and rolls back), then the current slot's launcher; and
the guard's ``check`` runs every second (the unit's timer, there every 30 s), a rollback it makes
restarting the controller.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hil.flight_vm import FlightVm, VmError

STOP_GRACE_S = 5.0
IMAGE_CHECK_S = 1.0  # how often the boot guard looks at a trial's deadline
# A flight image's launcher runs on a bare interpreter: the slot brings every package.
BASE_PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
log = logging.getLogger("hil")


@dataclass
class _Watch:
    """What the bench's watchdog keeps of one process."""

    args: list[str]
    period_s: float
    sock: socket.socket
    image_root: Path | None = None
    ready: bool = False
    last_beat: float = field(default_factory=time.monotonic)
    last_check: float = field(default_factory=time.monotonic)


class ProcessFailed(Exception):
    """A process of the bench exited or did not come up; the message names it and its log."""


class BenchProcesses:
    """Starts and stops the bench's child processes."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self._how: dict[str, tuple[list[str], float | None, Path | None]] = {}  # as started
        self._watched: dict[str, _Watch] = {}
        self.restarts = 0  # by the watchdog, or after a failure exit of a watched process
        self.watchdog_expiries = 0
        self.vm: FlightVm | None = None  # the flight computer, when it is a virtual machine
        self.vm_boot: dict[str, float] = {}  # how the VM booted (set by the bench)
        self._vm_final: dict[str, int] = {}  # systemd's figures, read before the VM powers off

    def start_vm(self, vm: FlightVm) -> None:
        """Boot the flight computer's virtual machine: its systemd runs the controller."""
        self.vm = vm
        vm.start()

    def start(
        self,
        name: str,
        args: list[str],
        watchdog_s: float | None = None,
        image_root: Path | None = None,
    ) -> subprocess.Popen:
        """Start ``python -m <args>`` with its output in <out>/<name>.log (appended to across
        restarts); with ``watchdog_s``, watched and restarted as the module says; with
        ``image_root``, the flight software of that image's current slot, under its boot guard."""
        self._how[name] = (args, watchdog_s, image_root)
        env = dict(os.environ, PYTHONSAFEPATH="1", PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", *args]
        if image_root is not None:
            self._guard(name, image_root, "start")
            command = [str(image_root / "opt/payload/current/bin/payload"), *args[1:]]
            env["PAYLOAD_PYTHON"] = str(BASE_PYTHON)
        if watchdog_s is not None:
            watch = self._watched.get(name)
            if watch is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                path = self.out_dir / f"{name}.notify"
                path.unlink(missing_ok=True)
                sock.bind(str(path))
                sock.setblocking(False)
                watch = self._watched[name] = _Watch(args, watchdog_s, sock, image_root)
            watch.ready, watch.last_beat = False, time.monotonic()
            env |= {
                "NOTIFY_SOCKET": str(self.out_dir / f"{name}.notify"),
                "WATCHDOG_USEC": str(int(watchdog_s * 1e6)),
            }
        with open(self.out_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                command,
                cwd=self.out_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs[name] = proc
        return proc

    def watch(self) -> None:
        """Read what watched processes said; abort and restart one whose watchdog expired, and
        restart one that exited with a failure (call often: the bench does, while it waits)."""
        now = time.monotonic()
        for name, watch in self._watched.items():
            while True:
                try:
                    message = watch.sock.recv(4096).decode(errors="replace")
                except BlockingIOError:
                    break
                lines = message.split("\n")
                watch.ready |= "READY=1" in lines
                if "WATCHDOG=1" in lines:
                    watch.last_beat = now
            proc = self.procs[name]
            if watch.image_root is not None and now - watch.last_check >= IMAGE_CHECK_S:
                watch.last_check = now
                if self._guard(name, watch.image_root, "check") and proc.poll() is None:
                    log.warning("%s: a trial rolled back by the boot guard: restarted", name)
                    self.restarts += 1
                    proc.terminate()
                    _wait(proc)
                    self.start(name, watch.args, watch.period_s, watch.image_root)
                    continue
            if proc.poll() is None and watch.ready and now - watch.last_beat > watch.period_s:
                self.watchdog_expiries += 1
                log.warning("%s: watchdog expired: killed, then started again", name)
                proc.kill()
                proc.wait()
            if proc.poll() not in (None, 0):
                self.restarts += 1
                self.start(name, watch.args, watch.period_s, watch.image_root)

    def _guard(self, name: str, root: Path, action: str) -> bool:
        """Run the image's boot guard (its own installed script); whether it rolled back."""
        before = os.readlink(root / "opt/payload/current")
        with open(self.out_dir / f"{name}.log", "ab") as log_file:
            subprocess.run(
                [str(BASE_PYTHON), str(root / "opt/payload/bin/payload-boot"), "--root",
                 str(root), action],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        return os.readlink(root / "opt/payload/current") != before

    def check_alive(self) -> None:
        """ProcessFailed if any process has exited (a watched one is started again instead)."""
        self.watch()
        if self.vm is not None and not self.vm.alive():
            raise ProcessFailed(f"the flight computer's VM stopped (see {self.vm.console_log})")
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise ProcessFailed(
                    f"{name} exited with status {proc.returncode} "
                    f"(see {self.out_dir / (name + '.log')})"
                )

    async def wait_for_file(self, path: Path, timeout: float) -> str:
        """The content of a file a process writes once ready."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not path.exists():
            self.check_alive()
            if loop.time() > deadline:
                raise ProcessFailed(f"{path.name} did not appear within {timeout:g} s")
            await asyncio.sleep(0.02)
        return path.read_text()

    def figures(self) -> dict[str, float]:
        """What the watchdog (the emulation's, or systemd's in the VM) did."""
        if self.vm is not None:
            return self.vm_boot | (self._vm_final or self.vm.unit_figures())
        return {"watchdog_expiries": self.watchdog_expiries, "controller_restarts": self.restarts}

    def kill_and_restart(self, name: str) -> None:
        """Kill a process (SIGKILL: as a crash or a reset of its computer leaves it) and start
        it again at once, as its unit's Restart= would."""
        if name == "flight" and self.vm is not None:
            raise ProcessFailed("a controller in the flight VM is restarted by its own systemd")
        proc = self.procs[name]
        proc.kill()
        proc.wait()
        self.restarts += 1
        self.start(name, *self._how[name])

    def pause(self, name: str) -> None:
        """Hang a process (SIGSTOP): its loops stop coming round, as in a deadlock."""
        if name == "flight" and self.vm is not None:
            self.vm.hang_controller()
            return
        self.procs[name].send_signal(signal.SIGSTOP)

    async def stop_all(self) -> dict[str, int]:
        """Stop every process; their exit statuses. The event loop runs on meanwhile, so the
        bench keeps serving the serial line: a controller flushing its last telemetry on the
        way out is read, not left blocked on a full line until it is killed."""
        for watch in self._watched.values():
            watch.sock.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_GRACE_S
        while any(p.poll() is None for p in self.procs.values()) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for proc in self.procs.values():
            if proc.poll() is None:  # past the grace period
                proc.kill()
        statuses = {name: proc.wait() for name, proc in self.procs.items()}
        if self.vm is not None:  # its controller stopped by systemd, then the board powered off
            try:
                self._vm_final = await loop.run_in_executor(None, self.vm.unit_figures)
                statuses["flight"] = await loop.run_in_executor(None, self.vm.stop_controller)
            except VmError as exc:
                log.warning("the flight computer's VM did not answer: %s", exc)
                statuses["flight"] = -1
            await loop.run_in_executor(None, self.vm.shutdown)
        return statuses


def _wait(proc: subprocess.Popen) -> int:
    """Its exit status, once it has exited (SIGKILL after the grace period)."""
    try:
        return proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
