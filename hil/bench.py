"""One bench run: a pty link, the emulated bus, the flight controller and the ground station as
processes of their own, a scenario driven through the ground station, and the report.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import traceback
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Awaitable, Callable

from flight import dictionary as d
from flight.protocol.messages import DecodedTelemetry
from flight.security.keys import KEY_FILE_NAMES, KeyFileError, KeySet, load_keys, provision_keys
from flight.security.tc_auth import TcSigner
from flight.spacelink.profile import DEFAULT_SCID, LinkProfile
from ground.client import CommandRefused, NoSuchSpacecraft, StationClient, StationUnreachable
from hil.bus import BusEmulator
from hil.bus_clock import BusTimeout
from hil.serial_endpoint import damage
from hil.environment import Environment, EnvironmentConfig
from hil.gpu_figures import GpuTrack
from hil.ground_figures import GroundTrack
from flight.gpu.fault_channel import send_fault
from hil.flight_vm import FlightVm, VmError, boot_limit_s, copy_disk
from hil.processes import BenchProcesses, ProcessFailed
from hil.radio import RadioConfig
from hil.report import Report
from hil.report_html import write_html
from hil.serial_link import PtyLink, SerialPortLink
from hil.space_link import SpacecraftLink

DEFAULT_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: lockstep runs are reproducible
SAMPLE_JOBS = {
    "hash-chain": "hash_chain.py",
    "train-numpy": "train_numpy.py",
    "cuda-burn": "cuda_burn.py",
    "char-gpt": "char_gpt.py",
}
STARTUP_TIMEOUT_S = 20.0
IMAGE_WATCHDOG_S = 10.0  # payload-controller.service's WatchdogSec


@dataclass
class BenchConfig:
    """How to run the bench."""

    out_dir: Path
    speed: float | None = 1.0  # bus seconds per wall second; None: lockstep
    start_time: float = DEFAULT_START
    duration_s: int = 6 * 3600  # bus seconds of environment computed ahead
    environment: EnvironmentConfig = field(default_factory=EnvironmentConfig)
    wall_limit_s: float = 600.0
    seed: int = 0
    baud: int | None = 115_200  # line rate per bus second (lockstep is not paced; a UART paces)
    port: str | None = None  # a real serial port (or pyserial URL) to a payload already running
    keys: Path | None = None  # bus.toml and ground.toml matching the payload's keys (fresh: None)
    eclipse_predictions: bool = True  # False: the controller schedules without them (baseline)
    relay_windows: bool = False  # the bus relays telemetry only in link windows
    radio: RadioConfig = field(default_factory=RadioConfig)  # rate, delay, loss of the radio
    spacecraft_id: int = DEFAULT_SCID  # in the space link's frames
    watchdog_s: float | None = None  # the controller watched as systemd would (WatchdogSec)
    image_root: Path | None = None  # run the controller from this installed flight image
    flight_vm: Path | None = None  # boot this flight disk in a VM on the line (needs keys)

    @property
    def mode(self) -> str:
        """The time mode in words."""
        return "lockstep" if self.speed is None else f"real time x{self.speed:g}"


class Bench:
    """What a scenario drives: the bus, a ground station client and the report."""

    def __init__(
        self,
        config: BenchConfig,
        bus: BusEmulator,
        client: StationClient,
        report: Report,
        station_address: str,
        processes: BenchProcesses,
        token_file: Path,
    ) -> None:
        self.config = config
        self.processes = processes
        self.station_address = station_address
        self.token_file = token_file  # the station token of the bench's admin
        self.bus = bus
        self.client = client
        self.report = report
        self.state_dir = config.out_dir.resolve() / "state"
        self.wall0 = time.monotonic()
        self.gpu: GpuTrack | None = None  # set by a scenario that follows the GPU
        self.ground: GroundTrack | None = None  # set by a scenario that follows the ground
        # commands a scenario sent by the mesh: check label, command, request id
        self.relayed: list[tuple[str, str, bytes]] = []
        self.extra_figures: dict = {}  # the scenario's own figures (GPU, workload)
        # jobs submitted to the fleet's broker: work, deadline, submitted at
        self.fleet_jobs: dict[str, tuple[float, float | None, float]] = {}

    def note(self, what: str) -> None:
        """Add a line to the report's timeline."""
        self.report.note(self.bus.clock.announced, what)

    def check(self, name: str, passed: bool, detail: str = "") -> bool:
        """Record a check at the current bus time."""
        return self.report.check(self.bus.clock.announced, name, passed, detail)

    def gpu_fault(self, message: dict) -> None:
        """A fault for the controller's simulated GPU, through its fault channel: here, or in
        the flight computer's VM."""
        if self.processes.vm is not None:
            self.processes.vm.send_gpu_fault(message)
        else:
            send_fault(self.state_dir, message)

    def payload_has_file(self, relative: str) -> bool:
        """Whether the controller's state directory holds this file (here, or in the VM)."""
        if self.processes.vm is not None:
            return self.processes.vm.has_state_file(relative)
        return (self.state_dir / relative).is_file()

    def figures(self) -> dict:
        """The run's figures so far."""
        return (
            run_figures(self.bus, self.config, self.wall0)
            | self.processes.figures()
            | self.extra_figures
        )

    async def housekeeping_where(
        self, predicate: Callable[[dict], bool], bus_seconds: float
    ) -> DecodedTelemetry:
        """The first housekeeping report whose values satisfy predicate, within a bus deadline."""

        async def first() -> DecodedTelemetry:
            while True:
                hk = await self.bus.serial.next_housekeeping()
                if predicate(hk.values):
                    return hk

        return await self.bus.clock.within(first(), bus_seconds)


ScenarioFn = Callable[[Bench], Awaitable[None]]


def write_sample_jobs(bin_dir: Path, python: str = sys.executable) -> None:
    """Write the sample jobs as executables run by ``python`` into a job area: the controller's
    here, or one a flight disk carries (python -m hil jobs DIR; flight image disk --job-area)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, source in SAMPLE_JOBS.items():
        text = resources.files("hil").joinpath("sample_jobs", source).read_text()
        target = bin_dir / name
        target.write_text(f"#!{python}\n{text}")
        target.chmod(0o755)


def clear_stale(out: Path, names: tuple[str, ...]) -> None:
    """``out`` made, and what an earlier run left there under ``names`` removed."""
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def bench_token_file(out: Path) -> Path:
    """The station token of the bench's own account (an admin), which every client of a bench's
    station may use: OUT/ground-accounts/bench.token."""
    return out / "ground-accounts" / "bench.token"


def provision_accounts(out: Path) -> Path:
    """A fresh account store for this run's station, with one account, ``bench``, an admin with
    a token only; the store's path."""
    accounts = out / "ground-accounts"
    shutil.rmtree(accounts, ignore_errors=True)
    store = accounts / "users.sqlite"
    for step in (
        ["add", "bench", "--role", "admin", "--no-password"],
        ["token", "bench", "--out", str(bench_token_file(out))],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "ground", "users", *step, "--users", str(store)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode:
            raise ProcessFailed(f"ground users {step[0]}: {done.stderr.strip()}")
    return store


class BenchRun:
    """One spacecraft of a bench run: its line, its bus, its payload (a controller started here,
    a flight VM, or a payload on a serial port), its client of the station, its scenario and its
    report. A run of one payload has one (run_bench); a fleet run one per spacecraft, around one
    station (hil/fleet_bench.py)."""

    def __init__(self, name: str, config: BenchConfig) -> None:
        self.name = name
        self.config = config
        self.out = config.out_dir.resolve()  # the children run in it: relative paths would move
        self.report = Report(name, config.mode, config.start_time, seed=config.seed)
        self.procs = BenchProcesses(self.out)
        self.vm: FlightVm | None = None
        self.link: PtyLink | SerialPortLink | None = None
        self.bus: BusEmulator | None = None
        self.keys: KeySet | None = None
        self.bench: Bench | None = None
        self.environment: Environment | None = None
        self.flight_options: list[str] = []  # a fleet's: the laser terminal (--isl, --entity-id)
        self.wall0 = time.monotonic()

    def prepare(self) -> None:
        """Its output directory cleared, its keys, its line and its bus made; KeyFileError or
        VmError when the configuration cannot run (the caller says why)."""
        config, out = self.config, self.out
        clear_stale(out, ("state", "station.port", "ground-state"))
        if config.port is None and config.flight_vm is None:  # a controller started here
            write_sample_jobs(out / "state" / "bin")
        if (config.port or config.flight_vm) and config.keys is None:
            where = "on a serial port" if config.port else "in a VM boots its disk's keys and"
            raise KeyFileError(
                f"a payload {where} needs the matching bus and ground key files "
                "(hil run --keys DIR; pytest --hil-keys DIR)"
            )
        if config.flight_vm is not None:  # a copy: every run boots the disk as it was built
            self.vm = FlightVm(copy_disk(config.flight_vm, out / "flight-disk.img"), out, "")
            if not self.vm.manifest.get("engineering"):
                raise VmError(
                    f"{config.flight_vm}: the bench reaches the guest through its agent, which "
                    "only an engineering disk has (flight image disk --engineering)"
                )
        self.keys = (
            KeySet.in_dir(config.keys.resolve())
            if config.keys
            else provision_keys(out / "keys", replace_files=KEY_FILE_NAMES)  # fresh each run
        )
        bus_keys = load_keys(self.keys.bus)  # KeyFileError: the caller says why
        self.link = link = (
            SerialPortLink.open(config.port, config.baud) if config.port else PtyLink.open()
        )
        self.environment = Environment(config.environment, config.start_time, config.duration_s)
        self.bus = bus = BusEmulator(
            link.master_fd,
            start_time=config.start_time,
            environment=self.environment,
            baud=None if config.speed is None or config.port else config.baud,
            speed=config.speed or 1.0,
            seed=config.seed,
            relay_windows=config.relay_windows,
            radio=config.radio,
            space_link=SpacecraftLink(LinkProfile(config.spacecraft_id), out),
            signer=TcSigner(lambda: bus_keys, d.SOURCE_BUS),
        )
        bus.clock.lockstep = config.speed is None
        bus.radio.sync_station = bus.clock.lockstep and config.radio.immediate
        self.wall0 = time.monotonic()  # the run's wall time starts with its bus

    async def launch(self) -> None:
        """Its bus up and its payload started."""
        config, out, bus, link = self.config, self.out, self.bus, self.link
        assert bus is not None and link is not None and self.keys is not None
        await bus.start()
        if self.vm is not None:  # the flight computer's systemd starts the controller
            self.vm.bus_tty = link.slave_path
            self.procs.start_vm(self.vm)
            self.report.note(
                bus.clock.time,
                f"flight computer VM booting ({self.vm.accel}: {self.vm.accel_reason})",
            )
        elif config.port is None:  # on a hardware bench the payload computer runs the controller
            flight = ["flight", "run", "--bus", link.slave_path, "--state-dir", str(out / "state")]
            flight += ["--keys", str(self.keys.flight)]
            if os.geteuid() == 0:  # its interpreter may be in a home only root can enter
                flight.append("--allow-root-jobs")
            flight += ["--gpu", "simulated", *self.flight_options]
            if not config.eclipse_predictions:
                flight.append("--no-eclipse-predictions")
            watchdog_s, image_root = config.watchdog_s, None
            if config.image_root is not None:  # its unit: watched, restarted (Restart=always)
                image_root = config.image_root.resolve()
                flight += ["--image-root", str(image_root)]
                watchdog_s = watchdog_s or IMAGE_WATCHDOG_S
            self.procs.start("flight", flight, watchdog_s=watchdog_s, image_root=image_root)

    def radio_address(self) -> str:
        """HOST:PORT of its space link, for the station."""
        assert self.bus is not None
        return f"127.0.0.1:{self.bus.radio.port}"

    async def drive(
        self,
        scenario: ScenarioFn,
        station_address: str,
        station_procs: BenchProcesses,
        spacecraft: str | None = None,
    ) -> None:
        """Connect to the station (as ``spacecraft`` of its fleet), wait for the space link and
        the payload, start the bus clock and run the scenario; what stops it goes into the
        report as its error."""
        config, bus, report = self.config, self.bus, self.report
        assert bus is not None
        watched = _Watched(self.procs, station_procs)
        client = clock = progress = None
        try:
            client = await StationClient.connect(
                station_address, token_file=bench_token_file(station_procs.out_dir),
                spacecraft=spacecraft,
            )  # fmt: skip
            await client.greeting(STARTUP_TIMEOUT_S)
            await _until(lambda: client.link_up, watched, STARTUP_TIMEOUT_S, "station's space link")
            if config.port is None:  # its port is open (opening flushes) once it says it started
                await _until(
                    lambda: any(tm.name == "CONTROLLER_STARTED" for tm in bus.serial.events),
                    watched,
                    STARTUP_TIMEOUT_S if self.vm is None else boot_limit_s(self.vm.disk),
                    "flight controller",
                )
            if self.vm is not None:
                boot_s = round(time.monotonic() - self.vm.started_at, 1)
                self.procs.vm_boot = {
                    "flight_vm_boot_s": boot_s,
                    "flight_vm_kvm": int(self.vm.accel == "kvm"),
                }
                report.note(bus.clock.time, f"CONTROLLER_STARTED {boot_s} s after the VM started")
            report.note(bus.clock.time, "flight controller and ground station up; bus clock starts")
            clock = asyncio.create_task(bus.clock.run(config.speed))
            if sys.stderr.isatty() and spacecraft is None:
                progress = asyncio.create_task(_progress(bus, config, self.wall0))
            self.bench = Bench(
                config,
                bus,
                client,
                report,
                station_address,
                self.procs,
                bench_token_file(station_procs.out_dir),
            )
            limit = asyncio.timeout(config.wall_limit_s)
            try:
                async with limit:
                    await _watched(scenario(self.bench), watched)
            except TimeoutError:
                if not limit.expired():  # the scenario's own wait, not the run's limit
                    raise
                report.error = f"the run passed its wall-clock limit of {config.wall_limit_s:g} s"
        except (BusTimeout, ProcessFailed, VmError) as exc:
            report.error = str(exc)
        except TimeoutError as exc:
            report.error = f"the scenario gave up waiting: {_where(exc)}"
        except (CommandRefused, StationUnreachable, NoSuchSpacecraft) as exc:
            report.error = f"ground station: {exc}"
        finally:
            for task in (clock, progress):
                if task is not None:
                    task.cancel()
            if progress is not None:
                print(file=sys.stderr)
            if client is not None:
                await client.close()

    async def stop(self) -> dict[str, int]:
        """Its processes stopped, its bus and line closed; their exit statuses."""
        statuses = await self.procs.stop_all()
        if self.bus is not None:
            await self.bus.stop()
        if self.link is not None:
            self.link.close()
        return statuses

    def finish(self, statuses: dict[str, int]) -> Report:
        """Its report written, with the controller's exit, the payload's events, the figures,
        the recordings and the HTML page."""
        report, bus, config = self.report, self.bus, self.config
        if bus is None:  # it never came up: what stopped it is the report
            report.write(self.out, b"", b"")
            return report
        if "flight" in statuses:
            report.check(
                bus.clock.time,
                "flight controller stops cleanly on SIGTERM",
                statuses["flight"] == 0,
                f"exit status {statuses['flight']}",
            )
        for start, end in bus.clock.silences:
            until = "to the end" if end is None else f"until bus time {end:.0f}"
            report.note(start, f"the payload stopped answering ticks: the clock went on {until} "
                        "without waiting for it")  # fmt: skip
        for tm in bus.serial.events:
            if tm.packet.time_synced:
                report.note(tm.packet.time, f"event {tm.name} {tm.labelled()}")
            else:
                report.note(
                    config.start_time, f"event {tm.name} {tm.labelled()} (before time sync)"
                )
        report.timeline.sort(key=lambda row: row["t_s"])
        report.figures = run_figures(bus, config, self.wall0) | self.procs.figures()
        report.cfdp = bus.radio.cfdp.report()
        if self.bench is not None:
            report.figures |= self.bench.extra_figures
        report.write(self.out, bytes(bus.serial.tm_log), bytes(bus.serial.tc_log))
        write_html(
            report,
            self.environment,
            bus.clock.ticks,
            bus.serial.events,
            self.out,
            self.bench.gpu if self.bench else None,
        )
        return report


async def start_station(
    out: Path, procs: BenchProcesses, link: list[str], spacecraft: list[str]
) -> str:
    """The bench's ground station, a process in ``out`` (state in OUT/ground-state, accounts in
    OUT/ground-accounts) with ``link`` and ``spacecraft`` as its command line's choice of them;
    its client address once it listens."""
    accounts = provision_accounts(out)
    procs.start(
        "station",
        ["ground", "station", "--listen", "127.0.0.1:0", *link, "--port-file",
         str(out / "station.port"), "--users", str(accounts), "--echo-idle", *spacecraft],
    )  # fmt: skip
    port = int(await procs.wait_for_file(out / "station.port", STARTUP_TIMEOUT_S))
    return f"127.0.0.1:{port}"


async def run_bench(name: str, scenario: ScenarioFn, config: BenchConfig) -> Report:
    """Run one scenario end to end and write its report; returns it."""
    run = BenchRun(name, config)
    run.prepare()
    try:
        await run.launch()
        assert run.keys is not None
        address = await start_station(
            run.out,
            run.procs,
            ["--link", run.radio_address()],
            ["--keys", str(run.keys.ground), "--spacecraft-id", str(config.spacecraft_id)],
        )
        await run.drive(scenario, address, run.procs)
    except (BusTimeout, ProcessFailed, VmError) as exc:
        run.report.error = str(exc)
    finally:
        statuses = await run.stop()
    return run.finish(statuses)


def run_figures(bus: BusEmulator, config: BenchConfig, wall0: float) -> dict:
    """The figures of a run: bus and wall time, and what crossed the serial link."""
    sim = bus.clock.time - config.start_time
    wall = time.monotonic() - wall0
    return {
        "sim_seconds": sim,
        "ticks": bus.clock.ticks,
        "ticks_unanswered": bus.clock.ticks_unanswered,
        "longest_unanswered_streak": bus.clock.longest_unanswered_streak,
        "tick_answer_lag_max_s": bus.clock.answer_lag_max_s,
        "tc_packets": bus.serial.tc_packets,
        "tm_packets": bus.serial.tm_packets,
        "tc_bytes": len(bus.serial.tc_log),
        "tm_bytes": len(bus.serial.tm_log),
        "tm_bad": bus.serial.tm_bad,
        "tc_dropped_not_payload": bus.radio.tc_dropped,
        "frames_lost": bus.serial.deframer.frames_bad,
        "down_frames_damaged": bus.serial.damaged_frames,
        "down_frames_damaged_per_fault": round(
            bus.serial.damaged_frames / max(1, damage(bus.serial.line.down)),
            3,
        ),
        "bus_resets": bus.faults.resets,
        "gpu_power_cycles": bus.gpu_supply.power_cycles,
        "gpu_switched_off": bus.gpu_supply.switched_off,
        "radio_lost_down": bus.radio.down.lost,
        "radio_lost_up": bus.radio.up.lost,
        "radio_dropped_queue": bus.radio.down.dropped_queue,
        "station_syncs_missed": bus.radio.syncs_missed,
        **bus.radio.cfdp.figures(),
        **{f"space_link_{k}": v for k, v in bus.radio.link.figures().items()},
        **{f"line_{k}": v for k, v in bus.serial.line.figures().items()},
        "wall_seconds": round(wall, 3),
        "wall_speed_factor": round(sim / wall, 1) if wall > 0 else None,
    }


async def _progress(bus: BusEmulator, config: BenchConfig, wall0: float) -> None:
    """On a terminal: bus time, wall time and speed, refreshed in place."""
    while True:
        await asyncio.sleep(0.5)
        sim = bus.clock.time - config.start_time
        wall = time.monotonic() - wall0
        print(
            f"\r[hil] bus {sim:9.0f} s  wall {wall:7.1f} s  speed {sim / wall:7.0f}x  "
            f"ticks {bus.clock.ticks}",
            end="",
            file=sys.stderr,
            flush=True,
        )


def _where(exc: BaseException) -> str:
    """The scenario's line that waited in vain (its innermost frame in a scenario or test)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/hil/" not in f.filename and "/ground/" not in f.filename]
    frame = (ours or frames)[-1]
    return f"{Path(frame.filename).name}:{frame.lineno}: {frame.line}"


class _Watched:
    """The processes a spacecraft's run depends on: its own, and the station's."""

    def __init__(self, *groups: BenchProcesses) -> None:
        self.groups = list(dict.fromkeys(groups))

    def check_alive(self) -> None:
        for group in self.groups:
            group.check_alive()


async def _watched(scenario: Awaitable[None], procs: _Watched) -> None:
    task = asyncio.ensure_future(scenario)
    while not task.done():
        procs.check_alive()
        await asyncio.wait({task}, timeout=0.2)
    task.result()


async def _until(condition: Callable[[], bool], procs: _Watched, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        procs.check_alive()
        if loop.time() > deadline:
            raise ProcessFailed(f"{what} did not come up within {timeout:g} s")
        await asyncio.sleep(0.02)
