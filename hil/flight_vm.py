"""The flight computer as a virtual machine (docs/hil.md, "The flight computer in a virtual
machine"): QEMU boots a flight disk (``python -m flight image disk``) with the bench's serial
line on its bus UART, its console to a log in the run's directory, KVM when it runs guests here
and TCG otherwise.

The kernel, initramfs and command line are the disk's own, read from its boot partition, and
given to QEMU directly (UEFI firmware takes the same from the same partition through the disk's
boot loader: a login prompt 27 s after QEMU started under TCG, against 18 s). A power cut is the
QEMU process killed; a clean stop is the guest shut down through its agent, or by ACPI.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from flight.image.disk import DiskError, read_manifest
from flight.protocol.framing import Deframer
from flight.protocol.messages import decode_telemetry
from flight.protocol.packets import Telemetry, parse_packet
from flight.image.targets import host_target

QEMU = {"x86_64": "qemu-system-x86_64", "aarch64": "qemu-system-aarch64"}
QEMU_PACKAGE = {"x86_64": "qemu-system-x86", "aarch64": "qemu-system-arm"}
MACHINE = {"x86_64": ["-M", "q35"], "aarch64": ["-M", "virt", "-cpu", "max"]}
BUS_DEVICE = {  # the bus UART: x86's second 16550 (ttyS1); on virt, which has one, a PCI 16550
    "x86_64": ["-serial", "chardev:bus"],
    "aarch64": ["-device", "pci-serial,chardev=bus"],
}
MEMORY_MIB = 1536
UNIT = "payload-controller.service"
STATE_DIR = "/var/lib/payload"  # the controller's, on the disk's state partition
BOOT_LIMIT_S = 300.0  # a flight computer VM to CONTROLLER_STARTED, on a loaded machine
# A disk whose packages its first boot installs (another architecture's, docs/image.md) may take
# this much longer, once (the time measured: docs/image.md, "aarch64")
FIRST_BOOT_LIMIT_S = 3600.0
KVM_PROBE_S = 15.0  # a kernel prints its banner within a second under KVM; never under TCG's


class VmError(RuntimeError):
    """The virtual machine cannot be started; the message says why in one line."""


def qemu_for(target: str) -> str:
    """The QEMU system emulator for a disk's target; VmError naming the Debian package if it is
    not installed."""
    binary = QEMU[target]
    if shutil.which(binary) is None:
        raise VmError(f"{binary} is not installed: apt-get install {QEMU_PACKAGE[target]}")
    return binary


def accelerator(target: str, kernel: Path) -> tuple[str, str]:
    """("kvm", why) when KVM runs this kernel here, else ("tcg", why not). The kernel itself is
    the probe: a /dev/kvm that opens may still run no guest (a virtual machine without nested
    virtualisation), and a simpler guest may run where Linux does not. The answer is kept for
    the host's boot (a file named by its boot id), so that only the first run pays for it."""
    if target != host_target():
        return "tcg", f"a {target} guest on {host_target()}"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "no usable /dev/kvm"
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    cache = Path(tempfile.gettempdir()) / f"payload-kvm-probe-{boot_id}-{target}.json"
    try:
        accel, why = json.loads(cache.read_text())
        return accel, why
    except (OSError, ValueError):
        pass
    command = [qemu_for(target), *MACHINE[target], "-accel", "kvm", "-m", "256", "-display"]
    command += ["none", "-nodefaults", "-serial", "stdio", "-no-reboot", "-kernel", str(kernel)]
    command += ["-append", "console=ttyS0 panic=-1"]
    probe = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert probe.stdout is not None
    os.set_blocking(probe.stdout.fileno(), False)
    seen, deadline = b"", time.monotonic() + KVM_PROBE_S
    while b"Linux version" not in seen and time.monotonic() < deadline and probe.poll() is None:
        select.select([probe.stdout], [], [], 0.2)
        seen += probe.stdout.read() or b""
    probe.kill()
    probe.wait()
    if b"Linux version" in seen:
        result = ("kvm", "KVM runs guests here")
    else:
        result = (
            "tcg",
            f"/dev/kvm is there but its guest's kernel said nothing in {KVM_PROBE_S:g} s",
        )
    cache.write_text(json.dumps(result))
    return result


def boot_limit_s(disk: Path) -> float:
    """How long the bench waits for a disk's controller to start: longer for a disk that
    installs its packages on its first boot (a disk that is not one fails when it starts)."""
    try:
        first_boot = bool(read_manifest(disk).get("first_boot"))
    except DiskError:
        first_boot = False
    return BOOT_LIMIT_S + (FIRST_BOOT_LIMIT_S if first_boot else 0.0)


def kernel_machine(head: bytes) -> str | None:
    """The machine a Linux kernel image is for, from its boot header: x86's bzImage ("HdrS" at
    0x202), arm64's Image ("ARM\\x64" at 0x38); None for neither."""
    if head[0x202:0x206] == b"HdrS":
        return "x86_64"
    if head[0x38:0x3C] == b"ARM\x64":
        return "aarch64"
    return None


def events_until(master: int, name: str, deadline: float) -> list[str]:
    """The events the payload sends on its bus UART (read from ``master``, the host's end),
    up to and including the first ``name``; VmError if it has not come by ``deadline``
    (time.monotonic())."""
    deframer, seen = Deframer(), []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            continue
        for frame in deframer.feed(os.read(master, 65536)):
            try:
                packet = parse_packet(frame)
                if isinstance(packet, Telemetry):
                    seen.append(decode_telemetry(packet).name)
            except ValueError:  # a frame damaged on the line (PacketError, or its content)
                continue
            if seen and seen[-1] == name:
                return seen
    raise VmError(f"no {name} on the bus UART within the limit; events seen: {seen}")


def copy_disk(disk: Path, copy: Path) -> Path:
    """A copy of a flight disk and its manifest (sparse, a few seconds): a run boots the disk
    as it was built and changes only its own copy. VmError if it is not a flight disk."""
    try:
        read_manifest(disk)
    except DiskError as exc:
        raise VmError(str(exc)) from None
    copy.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["cp", "--sparse=always", str(disk), str(copy)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise VmError(f"cannot copy {disk} to {copy}: {done.stderr.strip()}")
    shutil.copyfile(f"{disk}.json", f"{copy}.json")
    return copy


@dataclass
class FlightVm:
    """One flight computer: its disk, its run directory, the host tty its bus UART is on."""

    disk: Path
    out_dir: Path
    bus_tty: str  # a host tty (the slave side of the bench's pty, or a real serial port)
    accel: str = ""
    accel_reason: str = ""
    manifest: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None
    started_at: float = 0.0

    def __post_init__(self) -> None:
        try:
            self.manifest = read_manifest(self.disk)
        except DiskError as exc:
            raise VmError(str(exc)) from None
        target = self.manifest["target"]
        if target not in QEMU:
            raise VmError(f"{self.disk}: built for {target!r}, which no QEMU here boots")
        self.qemu = qemu_for(target)

    @property
    def target(self) -> str:
        """The machine the disk is built for."""
        return self.manifest["target"]

    @property
    def console_log(self) -> Path:
        """The guest's console, as it printed it, every boot of this run."""
        return self.out_dir / "vm-console.log"

    @property
    def qmp_path(self) -> Path:
        """QEMU's machine protocol socket (shutdown, reset)."""
        return self.out_dir / "vm-qmp.sock"

    @property
    def agent_path(self) -> Path:
        """The guest agent's socket (an engineering disk's only)."""
        return self.out_dir / "vm-agent.sock"

    def start(self) -> None:
        """Boot the disk; returns once QEMU runs (the guest boots on its own)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        kernel, initrd = self._boot_files()
        if not self.accel:
            self.accel, self.accel_reason = accelerator(self.target, kernel)
        self.qmp_path.unlink(missing_ok=True)
        self.agent_path.unlink(missing_ok=True)
        if self.process is None:  # a new run's console; a power cycle's boots follow on in it
            self.console_log.unlink(missing_ok=True)
        command = [self.qemu, *MACHINE[self.target], "-accel", self.accel, "-m", str(MEMORY_MIB)]
        command += ["-smp", "2", "-display", "none", "-nodefaults", "-no-user-config"]
        command += ["-kernel", str(kernel), "-initrd", str(initrd)]
        command += ["-append", self.manifest["cmdline"]]
        command += ["-drive", f"file={self.disk},format=raw,if=virtio,cache=writeback"]
        command += ["-chardev", f"file,id=console,path={self.console_log},append=on"]
        command += ["-serial", "chardev:console"]
        command += ["-chardev", f"serial,id=bus,path={self.bus_tty}", *BUS_DEVICE[self.target]]
        command += ["-device", "i6300esb", "-action", "watchdog=reset"]
        command += ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        if self.manifest.get("engineering"):
            command += ["-device", "virtio-serial"]
            command += ["-chardev", f"socket,id=agent,path={self.agent_path},server=on,wait=off"]
            command += ["-device", "virtserialport,chardev=agent,name=org.qemu.guest_agent.0"]
        log = open(self.out_dir / "vm-qemu.log", "ab")
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        self.started_at = time.monotonic()

    def _boot_files(self) -> tuple[Path, Path]:
        """The kernel and initramfs, copied out of the disk's boot partition."""
        esp = next((p for p in self.manifest["partitions"] if p.get("name") == "esp"), None)
        if esp is None:
            raise VmError(f"{self.disk}: its manifest names no boot partition (esp)")
        if shutil.which("mcopy") is None:
            raise VmError("mcopy is not installed: apt-get install mtools")
        image = f"{self.disk}@@{esp['start']}"
        files = []
        for name in ("vmlinuz", "initrd.img"):
            path = self.out_dir / f"vm-{name}"
            done = subprocess.run(
                ["mcopy", "-o", "-i", image, f"::/{name}", str(path)],
                capture_output=True,
                text=True,
                env=os.environ | {"MTOOLS_SKIP_CHECK": "1"},
            )
            if done.returncode != 0:
                raise VmError(f"{self.disk}: no {name} on its boot partition (corrupt disk?)")
            files.append(path)
        built_for = kernel_machine(files[0].read_bytes()[:4096])
        if built_for != self.target:
            raise VmError(
                f"{self.disk}: its kernel is for {built_for or 'no machine known'}, "
                f"its manifest says {self.target}"
            )
        return files[0], files[1]

    def run_in_guest(self, command: str, timeout: float = 60.0) -> tuple[int, str]:
        """A shell command run in the guest by its agent (an engineering disk's); its exit
        status and output."""
        pid = self._start_in_guest(command, capture=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self._request(self.agent_path, "guest-exec-status", {"pid": pid})["return"]
            if status["exited"]:
                out = base64.b64decode(status.get("out-data", "")) + base64.b64decode(
                    status.get("err-data", "")
                )
                return status.get("exitcode", -1), out.decode(errors="replace")
            time.sleep(0.2)
        raise VmError(f"the guest did not finish {command!r} within {timeout:g} s")

    def hang_controller(self) -> None:
        """The controller's loops stop coming round (SIGSTOP), as in a deadlock: systemd's
        watchdog is what must notice."""
        self.run_in_guest(f"systemctl kill --signal=SIGSTOP {UNIT}")

    def freeze_init(self) -> None:
        """PID 1 stops (systemd's crash handler freezes it on SIGSEGV) and with it the petting of
        the hardware watchdog (RuntimeWatchdogSec=): the watchdog must reset the board."""
        self._start_in_guest("kill -SEGV 1")

    def hang_kernel(self) -> None:
        """The kernel stops for good (a panic that does not reboot: kernel.panic=0): only the
        hardware watchdog brings the board back."""
        self._start_in_guest("echo 0 > /proc/sys/kernel/panic && echo c > /proc/sysrq-trigger")

    def reboot(self) -> None:
        """An orderly reboot (systemctl reboot), as an operator's would be."""
        self._start_in_guest("systemctl reboot")

    def power_cycle(self) -> None:
        """The power cut, then restored: QEMU killed with nothing flushed, the disk booted
        again as it was left."""
        self.power_cut()
        self.start()

    def _start_in_guest(self, command: str, capture: bool = False) -> int:
        """Start a shell command in the guest through its agent, without waiting for it (it
        may take the guest down); the guest's pid of it."""
        if not self.manifest.get("engineering"):
            raise VmError(f"{self.disk} has no guest agent (flight image disk --engineering)")
        started = self._request(
            self.agent_path,
            "guest-exec",
            {"path": "/bin/sh", "arg": ["-c", command], "capture-output": capture},
        )
        if "return" not in started:
            raise VmError(f"the guest agent refused {command!r}: {started.get('error')}")
        return started["return"]["pid"]

    def stop_controller(self) -> int:
        """Stop the controller as systemd stops it (SIGTERM to it, KillMode=mixed); its exit
        status, from systemd."""
        self.run_in_guest(f"systemctl stop {UNIT}", timeout=120)
        _, out = self.run_in_guest(f"systemctl show -P ExecMainStatus {UNIT}")
        return int(out.strip() or -1)

    def send_gpu_fault(self, message: dict) -> None:
        """A fault for the simulated GPU, sent in the guest by the flight software's own
        fault channel (flight/gpu/fault_channel.py) from the current slot."""
        script = (
            "import json, sys; from pathlib import Path; "
            "from flight.gpu.fault_channel import send_fault; "
            f"send_fault(Path({STATE_DIR!r}), json.loads(sys.argv[1]))"
        )
        status, out = self.run_in_guest(
            f"PYTHONPATH=/opt/payload/current/site python3 -c {shlex.quote(script)} "
            f"{shlex.quote(json.dumps(message))}"
        )
        if status != 0:
            raise VmError(f"the GPU fault did not reach the guest's controller: {out.strip()}")

    def has_state_file(self, relative: str) -> bool:
        """Whether the controller's state directory in the guest holds this file."""
        status, _ = self.run_in_guest(f"test -f {shlex.quote(f'{STATE_DIR}/{relative}')}")
        return status == 0

    def unit_figures(self) -> dict[str, int]:
        """What systemd did to the controller: restarts, and those its watchdog caused."""
        _, restarts = self.run_in_guest(f"systemctl show -P NRestarts {UNIT}")
        _, journal = self.run_in_guest(f"journalctl -b -u {UNIT} -o cat --no-pager")
        return {
            "watchdog_expiries": journal.count("Watchdog timeout"),
            "controller_restarts": int(restarts.strip() or 0),
        }

    def save_journal(self) -> None:
        """This boot's journal into the run directory (vm-journal.log)."""
        _, journal = self.run_in_guest("journalctl -b -o short-precise --no-pager", timeout=120)
        (self.out_dir / "vm-journal.log").write_text(journal)

    def alive(self) -> bool:
        """Whether QEMU still runs."""
        return self.process is not None and self.process.poll() is None

    def power_cut(self) -> None:
        """The power goes: QEMU killed, nothing flushed."""
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def shutdown(self, timeout: float = 120.0) -> int | None:
        """Shut the guest down (systemctl poweroff through the guest agent of an engineering
        disk, else the ACPI power button) and wait for QEMU to exit; the power is cut at the
        timeout. QEMU's exit status, None if it had to be cut."""
        if not self.alive():
            return self.process.returncode if self.process else None
        try:
            if self.manifest.get("engineering"):
                self.save_journal()
                self._request(self.agent_path, "guest-shutdown", {"mode": "powerdown"}, False)
            else:
                self._request(self.qmp_path, "system_powerdown")
        except VmError:
            pass  # no way in: the power goes at the timeout
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.power_cut()
            return None

    def _request(
        self, path: Path, command: str, arguments: dict | None = None, answered: bool = True
    ) -> dict:
        """One command to QEMU's machine protocol or the guest agent (one JSON object a line,
        the same shape); its answer, or {} for a command the guest does not answer. VmError
        when the channel is gone or says something that is not an answer."""
        try:
            return self._exchange(path, command, arguments, answered)
        except (OSError, ValueError, KeyError) as exc:
            raise VmError(f"{path.name}: no answer to {command} ({exc})") from None

    def _exchange(self, path: Path, command: str, arguments: dict | None, answered: bool) -> dict:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30)
            sock.connect(str(path))
            stream = sock.makefile("rwb")
            steps = [("guest-sync", {"id": os.getpid()})] if path == self.agent_path else []
            if path == self.qmp_path:
                stream.readline()  # the greeting
                steps.append(("qmp_capabilities", {}))
            reply: dict = {}
            for execute, args in [*steps, (command, arguments or {})]:
                stream.write(json.dumps({"execute": execute, "arguments": args}).encode() + b"\n")
                stream.flush()
                if execute == command and not answered:
                    return {}
                while True:
                    reply = json.loads(stream.readline())
                    if "return" in reply or "error" in reply:
                        break
            return reply
