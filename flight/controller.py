"""The payload controller: reads telecommands from the bus link, executes them, answers with
PUS 1 verification, and sends one housekeeping report per bus tick.

Single-threaded and driven by the bus: the bus's ticks are its only clock, jobs are supervised on
each tick, and no byte sequence on the link can raise out of the loop or stall it.
"""

from __future__ import annotations

import logging
import select
import signal
import sqlite3
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable

import msgpack
import serial

from flight import __version__
from flight import dictionary as d
from flight.cfdp.filestore import FilestoreError
from flight.downlink import Downlink, DownlinkConfig, DownlinkError
from flight.gpu.backend import GpuBackend
from flight.gpu.fault_channel import FaultChannel
from flight.gpu.monitor import GpuMonitor
from flight.gpu.simulated import SimulatedH100
from flight.governor import BusState, Governor, GovernorConfig
from flight.image.manager import RESTART_STATUS, ImageError, ImageManager
from flight.jobs.manifest import MAX_MANIFEST_BYTES, ManifestError, parse_manifest
from flight.jobs.runner import JobRejected, JobRunner
from flight.jobs.sandbox import JobUser
from flight.jobs.store import StoreError
from flight.safe_mode import FAULT_EVENTS, SafeMode
from flight.scheduler import Scheduler
from flight.protocol.framing import Deframer
from flight.protocol.messages import decode_command
from flight.protocol.packets import PacketError, Telecommand, Telemetry, parse_packet
from flight.protocol.timecode import MAX_CUC_S
from flight.security.job_auth import check_signature
from flight.security.keys import SigningKey, Key
from flight.security.replay import RESERVE, SecurityState
from flight.security.tc_auth import TRAILER_LEN, AuthError, TcVerifier
from flight.watchdog import Watchdog
from flight.telemetry import TelemetryWriter

log = logging.getLogger("flight")

READ_TIMEOUT_S = 0.05
TIME_JUMP_S = 0.5  # a tick further than this from one second after the last is a jump
H100_MEMORY_MIB = 81_559  # what a job may ask for when no GPU answers
JOB_LIST_PAGE_OCTETS = 3584  # job summaries per JOB_LIST packet (the MTU is 4096)
_GPU_HK_FIELDS = (
    "gpu_power_w",
    "gpu_limit_w",
    "gpu_temp_c",
    "gpu_slowdown_c",
    "gpu_sm_clock_mhz",
    "gpu_reasons",
    "gpu_util_pct",
    "gpu_mem_used_mib",
    "gpu_ecc_corrected",
    "gpu_ecc_uncorrected",
    "gpu_remapped_rows",
)
WRITE_TIMEOUT_S = 2.0  # a port without a descriptor (a pyserial URL); ttys are never blocked on
STOP_FLUSH_S = 1.0  # at stop: what is queued for the line gets this long to go out
_RESULT_EVENTS = {"JOB_COMPLETED", "JOB_FAILED", "JOB_TIMED_OUT"}
_NOT_COUNTED = {"CFDP_PDU"}  # file protocol traffic, counted by the downlink, not an operator's
_RESULT_STATES = {d.JobState.COMPLETED, d.JobState.FAILED, d.JobState.TIMED_OUT}


class CommandError(Exception):
    """A command refused at acceptance or failed in execution, with its PUS 1 failure code."""

    def __init__(self, code: d.FailureCode, reason: str):
        super().__init__(reason)
        self.code = code


@dataclass
class Counters:
    """The command and error counters of housekeeping (RESET_COUNTERS sets them to zero)."""

    tc_accepted: int = 0
    tc_rejected: int = 0
    tc_failed: int = 0
    packets_bad_crc: int = 0
    packets_bad_header: int = 0
    packets_unknown_apid: int = 0
    manifests_rejected: int = 0
    tc_auth_missing: int = 0
    tc_auth_unknown_key: int = 0
    tc_auth_bad_mac: int = 0
    tc_auth_replay: int = 0
    internal_errors: int = 0

    def reset(self) -> None:
        """Set every counter to zero."""
        for f in fields(self):
            setattr(self, f.name, 0)


_MANIFEST_FAILURES = (
    d.FailureCode.MANIFEST_UNSIGNED,
    d.FailureCode.MANIFEST_SIGNER_UNKNOWN,
    d.FailureCode.MANIFEST_SIGNATURE_BAD,
    d.FailureCode.MANIFEST_INVALID,
    d.FailureCode.MANIFEST_CONTRADICTORY,
    d.FailureCode.MANIFEST_TOO_LARGE,
)
_AUTH_FAILURES = {
    "missing": d.FailureCode.AUTH_MISSING,
    "unknown_key": d.FailureCode.AUTH_UNKNOWN_KEY,
    "bad_mac": d.FailureCode.AUTH_BAD_MAC,
    "replay": d.FailureCode.AUTH_REPLAY,
}
_PACKET_ERROR_COUNTER = {
    d.FailureCode.BAD_CHECKSUM: "packets_bad_crc",
    d.FailureCode.ILLEGAL_APID: "packets_unknown_apid",
}


class Controller:
    """The payload controller on one bus link, admitting telecommands signed with ``keys`` and
    jobs signed with ``job_keys``."""

    def __init__(
        self,
        link: serial.SerialBase,
        state_dir: Path,
        keys: dict[int, Key],
        job_keys: dict[int, SigningKey],
        gpu: GpuBackend | None = None,
        gpu_kind: str = "none",
        governor: GovernorConfig | None = None,
        downlink: DownlinkConfig | None = None,
        watchdog: Watchdog | None = None,
        job_user: JobUser | None = None,
        job_scopes: bool = False,
        image: ImageManager | None = None,
        replay_reserve: int = RESERVE,
    ) -> None:
        self.link = link
        self.image = image
        self.exit_status = 0  # RESTART_STATUS: to be started again (into a new version)
        self.state_dir = state_dir
        self.watchdog = watchdog if watchdog is not None else Watchdog()
        self.tm = TelemetryWriter(link)
        self.deframer = Deframer()
        self.counters = Counters()
        self.auth = TcVerifier(keys, SecurityState(state_dir / "security.state", replay_reserve))
        self.job_keys = job_keys
        self.runner = JobRunner(state_dir, user=job_user, scopes=job_scopes)
        self.downlink = Downlink(
            state_dir, self._send_pdu, downlink, line_clear=lambda: self.tm.tx.clear
        )
        self.tm.tap = self.downlink.record
        self._record_errors_told = 0  # recording failures already reported by STORE_ERROR
        self.gpu = GpuMonitor(gpu, gpu_kind)
        self.faults = FaultChannel(state_dir, gpu) if isinstance(gpu, SimulatedH100) else None
        self.governor = Governor(governor)
        self.safe = SafeMode(state_dir / "safe_mode.json")
        self.scheduler = Scheduler(
            self.governor.config.eclipse_predictions, self.governor.config.checkpoint_lead_s
        )
        self.frames_rx = 0
        self.time = 0.0
        self.synced = False
        self.first_tick_time = 0.0
        self.ticks = 0
        self.bus_state: dict[str, Any] = {
            "power_allowance_w": 0.0,
            "battery_soc": 0.0,
            "sink_temp_c": 0.0,
            "sunlit": 0,
            "eclipse_in_s": d.NONE_AHEAD,
            "eclipse_s": 0,
            "link_in_s": d.NONE_AHEAD,
        }
        self._running = True
        self._mode = d.GovernorMode.NO_GPU
        # command name -> (acceptance check returning the prepared arguments, execution)
        self._commands: dict[
            str, tuple[Callable[[dict], Any], Callable[[Telecommand, Any], None]]
        ] = {
            "PING": (_no_check, self._ping),
            "NOOP": (_no_check, lambda tc, args: None),
            "RESET_COUNTERS": (_no_check, self._reset_counters),
            "SUBMIT_JOB": (self._check_manifest, self._submit_job),
            "REPORT_JOBS": (_no_check, self._report_jobs),
            "CANCEL_JOB": (self._known_job, self._cancel_job),
            "HOLD_JOB": (self._known_job, self._hold_job),
            "RELEASE_JOB": (self._known_job, self._release_job),
            "REPRIORITISE_JOB": (self._known_job, self._reprioritise_job),
            "REPORT_JOB": (self._known_job, self._report_job),
            "BUS_TICK": (_no_check, self._tick),
            "GPU_POWER_STATE": (_no_check, self._gpu_power_state),
            "CFDP_PDU": (_no_check, self._cfdp_pdu),
            "DOWNLINK_FILE": (_no_check, self._downlink_file),
            "KEY_ACTIVATE": (self._known_key, self._activate_key),
            "KEY_DEACTIVATE": (self._key_in_use_elsewhere, self._deactivate_key),
            "REPORT_KEYS": (_no_check, self._report_keys),
            "SAFE_MODE_ENTER": (_no_check, self._enter_safe_mode),
            "SAFE_MODE_EXIT": (_no_check, self._exit_safe_mode),
            "IMAGE_INSTALL": (self._check_image_install, self._image_install),
            "IMAGE_ACTIVATE": (self._check_image_activate, self._image_activate),
        }

    # --- the loop
    def run(self) -> None:
        """Serve the link until stop() or SIGTERM/SIGINT."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        self.tm.start_line()
        self.events(self.auth.floors())  # first: a sender that waits for the start has them
        self.event("CONTROLLER_STARTED", {"version": __version__})
        self.events(self.gpu.started())
        if self.image is not None:
            self.events(self.image.started())
        self.watchdog.ready()
        try:
            while self._running:
                self.watchdog.beat("link")  # at least every READ_TIMEOUT_S
                data = self._read_link()
                if data:
                    self.receive(data)
                self.drain()
        finally:
            self.watchdog.stopping()
            self.close()

    def _read_link(self) -> bytes:
        """What the bus sent, waiting at most READ_TIMEOUT_S; while telemetry waits for the line,
        the wait also ends when the line can take more, and it is written."""
        fd = self.tm.tx.fd
        if fd is None or not self.tm.tx.pending:
            return self.link.read(self.link.in_waiting or 1)
        readable, writable, _ = select.select([fd], [fd], [], READ_TIMEOUT_S)
        if writable:
            self.tm.tx.pump()
        return self.link.read(self.link.in_waiting or 1) if readable else b""

    def drain(self) -> None:
        """What waits for the line goes out as it drains: queued telemetry, then the downlink's
        share of this bus second that its flow control held back while the line was busy (only
        then: a line that keeps up sends everything on the tick, as in lockstep)."""
        self.tm.tx.pump()
        if self.downlink.link.held and self.tm.tx.clear:
            self.events(self._downlink(self.downlink.catch_up))

    def close(self) -> None:
        """Stop the running job (it is requeued) and close the stores and the fault channel."""
        self.tm.tx.flush(STOP_FLUSH_S)
        try:
            self.runner.shutdown()
        except StoreError as exc:  # the job is found again at the next start
            log.error("shutdown: %s", exc)
        self.runner.close()
        self.downlink.close()
        self.auth.state.close()
        self.safe.stopped()
        self.watchdog.close()
        if self.faults is not None:
            self.faults.close()

    def stop(self) -> None:
        """Leave the loop after the current read."""
        self._running = False

    def receive(self, data: bytes) -> None:
        """Handle bytes from the link: every complete frame is one packet. Nothing a packet does
        raises out of here: a defect is logged with its traceback and counted."""
        for raw in self.deframer.feed(data):
            self.frames_rx += 1  # counted as handled: housekeeping counts the frames before it
            try:
                self.handle_packet(raw)
            except Exception:  # a defect outside any command: the next packet is served
                self.counters.internal_errors += 1
                log.exception("internal error handling a packet")

    def handle_packet(self, raw: bytes) -> None:
        """Accept and execute one packet, or count and report why not."""
        try:
            packet = parse_packet(raw)
        except PacketError as exc:
            counter = _PACKET_ERROR_COUNTER.get(exc.code, "packets_bad_header")
            setattr(self.counters, counter, getattr(self.counters, counter) + 1)
            if exc.request_id is not None and exc.request_id[0] & 0x10:  # a TC: answer it
                self._failure(
                    "ACCEPTANCE_FAILURE", exc.request_id, d.SOURCE_GROUND, exc.code, str(exc)
                )
            return
        if isinstance(packet, Telemetry):
            self.counters.packets_bad_header += 1
            return
        try:
            self.auth.check(raw)
        except AuthError as exc:
            counter = f"tc_auth_{exc.reason}"
            setattr(self.counters, counter, getattr(self.counters, counter) + 1)
            self._reject(packet, _AUTH_FAILURES[exc.reason], str(exc))
            if exc.key_id is not None and (
                told := self.auth.floor_again(exc.key_id, time.monotonic())
            ):
                self.event(*told)
            return
        except OSError as exc:  # the number could not be recorded: not admitted
            self._reject(packet, d.FailureCode.STORE_FAILURE, f"security state: {exc}")
            return
        self.execute(replace(packet, app_data=packet.app_data[:-TRAILER_LEN]))

    def execute(self, tc: Telecommand) -> None:
        """Acceptance checks, then execution, each verified as the command's ack flags ask."""
        try:
            command, args = decode_command(tc)
            check, run = self._commands[command.name]
            prepared = check(args)
        except (PacketError, CommandError) as exc:
            self._reject(tc, exc.code, str(exc))
            return
        except Exception as exc:  # a defect in an acceptance check: refused, never fatal
            self._reject(tc, d.FailureCode.INTERNAL_ERROR, self._internal_error(tc, exc))
            return
        if command.source != d.SOURCE_BUS and command.name not in _NOT_COUNTED:
            self.counters.tc_accepted += 1
        self._verify(tc, d.ACK_ACCEPTANCE, "ACCEPTANCE_SUCCESS")
        try:
            run(tc, prepared)
        except Exception as exc:
            code, reason = (
                (exc.code, str(exc))
                if isinstance(exc, CommandError)
                else (d.FailureCode.INTERNAL_ERROR, self._internal_error(tc, exc))
            )
            self.counters.tc_failed += 1
            self._failure("COMPLETION_FAILURE", tc.request_id, tc.source_id, code, reason)
            return
        self._verify(tc, d.ACK_COMPLETION, "COMPLETION_SUCCESS")

    def _internal_error(self, tc: Telecommand, exc: Exception) -> str:
        """Log and count a defect a command ran into; the reason its failure report gives."""
        self.counters.internal_errors += 1
        log.error("internal error in TC[%d,%d]", tc.service, tc.subtype, exc_info=exc)
        return f"internal error: {type(exc).__name__}: {exc}"

    # --- verification
    def _reject(self, tc: Telecommand, code: d.FailureCode, reason: str) -> None:
        self.counters.tc_rejected += 1
        if code in _MANIFEST_FAILURES:
            self.counters.manifests_rejected += 1
        self._failure("ACCEPTANCE_FAILURE", tc.request_id, tc.source_id, code, reason)

    def _verify(self, tc: Telecommand, flag: int, name: str) -> None:
        if tc.ack_flags & flag:
            self.tm.send(
                name,
                _request_fields(tc.request_id),
                time=self.time,
                synced=self.synced,
                dest_id=tc.source_id,
            )

    def _failure(
        self, name: str, request_id: bytes, dest: int, code: d.FailureCode, reason: str
    ) -> None:
        log.info("%s %s: %s", name, code.name, reason)
        values = _request_fields(request_id) | {"code": int(code), "reason": reason}
        self.tm.send(name, values, time=self.time, synced=self.synced, dest_id=dest)

    def event(self, name: str, values: dict[str, Any]) -> None:
        """Send an event report."""
        if log.isEnabledFor(logging.INFO):  # enum values by their names, as the ground shows them
            named = {f.name: f.label(values.get(f.name)) for f in d.EVENTS_BY_NAME[name].args}
            log.info("event %s %s", name, named)
        self.tm.send_event(name, values, time=self.time, synced=self.synced)
        if name in FAULT_EVENTS and self.safe.fault(self.time, name):
            self.event("SAFE_MODE_ENTERED", {"reason": self.safe.reason})

    def events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Send event reports, in order."""
        for name, values in events:
            self.event(name, values)

    # --- commands
    def _ping(self, tc: Telecommand, _args: Any) -> None:
        self.tm.send("PING_REPORT", {}, time=self.time, synced=self.synced, dest_id=tc.source_id)

    def _reset_counters(self, _tc: Telecommand, _args: Any) -> None:
        self.counters.reset()
        self.deframer.frames_bad = 0
        self.tm.reset_dropped()

    def _check_manifest(self, args: dict[str, Any]) -> Any:
        manifest = args["manifest"]
        size = len(msgpack.packb(manifest, use_bin_type=True))
        if size > MAX_MANIFEST_BYTES:
            raise CommandError(
                d.FailureCode.MANIFEST_TOO_LARGE,
                f"manifest: {size} octets, more than {MAX_MANIFEST_BYTES}",
            )
        try:
            check_signature(manifest, self.job_keys)
            spec = parse_manifest(manifest)
        except ManifestError as exc:
            raise CommandError(exc.code, f"manifest: {exc}") from None
        if spec.simulated and self.faults is None:
            raise CommandError(
                d.FailureCode.MANIFEST_CONTRADICTORY,
                "manifest: a simulated job needs the simulated GPU (this controller has "
                f"{self.gpu.kind})",
            )
        return spec, manifest

    def _submit_job(self, _tc: Telecommand, prepared: Any) -> None:
        spec, manifest = prepared
        reading = self.gpu.reading
        memory = reading.memory_total_mib if reading is not None else H100_MEMORY_MIB
        self._job_command(lambda: self.runner.submit(spec, manifest, self.time, memory))
        self.event("JOB_QUEUED", {"job_id": spec.job_id})

    def _job_command(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except JobRejected as exc:
            raise CommandError(exc.code, str(exc)) from None
        except StoreError as exc:  # a running job's stop could not be recorded
            raise CommandError(d.FailureCode.STORE_FAILURE, str(exc)) from None

    def _known_job(self, args: dict[str, Any]) -> dict[str, Any]:
        if args["job_id"] not in self.runner.jobs:
            raise CommandError(d.FailureCode.JOB_UNKNOWN, f"no job {args['job_id']!r}")
        return args

    def _cancel_job(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        self.events(self._job_command(lambda: self.runner.cancel(args["job_id"], self.time)))

    def _hold_job(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        self._job_command(lambda: self.runner.hold(args["job_id"]))
        self.event("JOB_HELD", {"job_id": args["job_id"]})

    def _release_job(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        self._job_command(lambda: self.runner.release(args["job_id"]))
        self.event("JOB_RELEASED", {"job_id": args["job_id"]})

    def _reprioritise_job(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        self._job_command(lambda: self.runner.reprioritise(args["job_id"], args["priority"]))
        self.event("JOB_REPRIORITISED", args)

    def _report_jobs(self, tc: Telecommand, _args: Any) -> None:
        pages = _pages([job.summary() for job in self.runner.jobs.values()])
        for number, jobs in enumerate(pages):
            self.tm.send(
                "JOB_LIST",
                {"page": number, "pages": len(pages), "jobs": jobs},
                time=self.time,
                synced=self.synced,
                dest_id=tc.source_id,
            )

    def _report_job(self, tc: Telecommand, args: dict[str, Any]) -> None:
        detail = self.runner.jobs[args["job_id"]].detail()
        self.tm.send(
            "JOB_DETAIL", {"job": detail}, time=self.time, synced=self.synced, dest_id=tc.source_id
        )

    def _downlink_file(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        try:
            self.downlink.send_file(args["path"], args["priority"])
        except DownlinkError as exc:
            raise CommandError(exc.code, str(exc)) from None
        except (OSError, sqlite3.Error) as exc:
            raise CommandError(d.FailureCode.STORE_FAILURE, f"downlink: {exc}") from None

    def _cfdp_pdu(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        try:
            self.downlink.receive_pdu(args["pdu"])
        except (OSError, sqlite3.Error) as exc:
            raise CommandError(d.FailureCode.STORE_FAILURE, f"downlink: {exc}") from None

    def _known_key(self, args: dict[str, Any]) -> int:
        if args["key_id"] not in self.auth.keys:
            raise CommandError(d.FailureCode.KEY_UNKNOWN, f"no key {args['key_id']} on board")
        return args["key_id"]

    def _key_in_use_elsewhere(self, args: dict[str, Any]) -> int:
        key_id = self._known_key(args)
        if self.auth.last_in_use(key_id):
            source = d.SOURCES[self.auth.keys[key_id].source]
            raise CommandError(
                d.FailureCode.KEY_LAST_IN_USE,
                f"key {key_id} is the last in use for {source}: activate another first",
            )
        return key_id

    def _activate_key(self, _tc: Telecommand, key_id: int) -> None:
        self._set_key(key_id, True)
        self.event("KEY_ACTIVATED", {"key_id": key_id})

    def _deactivate_key(self, _tc: Telecommand, key_id: int) -> None:
        self._set_key(key_id, False)
        self.event("KEY_DEACTIVATED", {"key_id": key_id})

    def _set_key(self, key_id: int, active: bool) -> None:
        try:
            self.auth.set_active(key_id, active)
        except OSError as exc:
            raise CommandError(d.FailureCode.STORE_FAILURE, f"security state: {exc}") from None

    def _report_keys(self, tc: Telecommand, _args: Any) -> None:
        self.tm.send(
            "KEY_LIST",
            {"keys": self.auth.report()},
            time=self.time,
            synced=self.synced,
            dest_id=tc.source_id,
        )

    def _enter_safe_mode(self, _tc: Telecommand, _args: Any) -> None:
        if not self.safe.active:
            self.safe.enter("by command")
            self.event("SAFE_MODE_ENTERED", {"reason": self.safe.reason})

    def _exit_safe_mode(self, _tc: Telecommand, _args: Any) -> None:
        if self.safe.active:
            self.safe.leave()
            self.event("SAFE_MODE_EXITED", {})

    def _image(self) -> ImageManager:
        if self.image is None:
            raise CommandError(
                d.FailureCode.IMAGE_UNAVAILABLE, "not running from a flight image (--image-root)"
            )
        return self.image

    def _check_image_install(self, args: dict[str, Any]) -> Path:
        image = self._image()
        try:
            path = self.downlink.entity.store.resolve(args["file"])
        except FilestoreError as exc:
            raise CommandError(d.FailureCode.FILE_NAME_INVALID, str(exc)) from None
        if not path.is_file():
            raise CommandError(d.FailureCode.FILE_NOT_FOUND, f"no file {args['file']!r} on board")
        try:
            return image.check_install(path)
        except ImageError as exc:
            raise CommandError(exc.code, str(exc)) from None

    def _image_install(self, _tc: Telecommand, path: Path) -> None:
        self._image().install(path)

    def _check_image_activate(self, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        try:
            return self._image().check_activate(), args
        except ImageError as exc:
            raise CommandError(exc.code, str(exc)) from None

    def _image_activate(self, _tc: Telecommand, prepared: tuple[str, dict[str, Any]]) -> None:
        slot, args = prepared
        self.event(*self._image().activate(slot, args["trial_s"], args["health_s"]))
        self._restart()

    def _restart(self) -> None:
        """Stop after this packet, to be started again (by systemd, into the current slot)."""
        self.exit_status = RESTART_STATUS
        self.stop()

    def _send_pdu(self, pdu: bytes) -> None:
        self.tm.send("CFDP_PDU", {"pdu": pdu}, time=self.time, synced=self.synced)

    def _gpu_power_state(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        self.gpu.power_state(bool(args["on"]))
        self.governor.forget_limit()
        self.events(self.gpu.take_events())

    def _tick(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        expected = self.time + 1.0
        self.time = args["time"]
        self.bus_state = {key: args[key] for key in self.bus_state}
        link_events = self._downlink(
            lambda: self.downlink.second(self.time, self.bus_state["link_in_s"] == 0)
        )
        recover = not self.synced
        if not self.synced:
            self.synced = True
            self.first_tick_time = self.time
            self.event("TIME_SYNCHRONISED", {"time": self.time})
            if self.safe.unclean_start:
                self.safe.unclean_start = False
                self.event("UNCLEAN_START", {})
        elif abs(self.time - expected) > TIME_JUMP_S:
            self.event("TIME_JUMP", {"expected": min(expected, MAX_CUC_S), "received": self.time})
        self.ticks += 1
        self.events(link_events)
        try:
            if recover:
                self.events(self._results_queued(self.runner.recover(self.time)))
                self.events(self._downlink(self._queue_unsent_results))
            self._control()
        except StoreError as exc:
            log.error("job store: %s", exc)
            self.event("STORE_ERROR", {"reason": str(exc)})
        if self.image is not None:
            events, restart = self.image.second(self.safe.active)
            self.events(events)
            if restart:
                self._restart()
        self.tm.send("HOUSEKEEPING", self.housekeeping(), time=self.time, synced=True)

    def _control(self) -> None:
        """One second of control: the GPU's last second, its reading, the governor's decision,
        then the jobs."""
        if self.faults is not None:
            self.faults.apply_pending()
        bus = self._bus()
        work = self.gpu.step(1.0, bus.sink_c, 1.0 if self.runner.gpu_busy else 0.0)
        status = self.gpu.read()
        events = self.gpu.take_events()
        job = self.runner.running
        if status.lost or status.new_uncorrected:
            why = "the GPU is lost" if status.lost else "uncorrectable GPU memory error"
            events += self.runner.gpu_fault(self.time, why, suspect=status.new_uncorrected)
        if status.lost:
            decision = self.governor.safe("the GPU is lost: power cycle requested")
        elif self.gpu.backend is not None and not self.gpu.powered:
            decision = self.governor.off()
        elif self.safe.active:
            decision = self.governor.safe_mode(status.reading, f"safe mode: {self.safe.reason}")
        else:
            policy = job.spec.checkpoint if job is not None else None
            lead = policy.cost_s if policy is not None else None
            decision = self.governor.control(bus, status.reading, lead)
        if decision.limit_w is not None:
            self.gpu.set_power_limit(decision.limit_w)
        if not decision.may_run:
            self.runner.suspend(self.time, decision.reason)
        self._switch_gpu(bus)
        events += self.gpu.take_events()
        if decision.mode != self._mode:
            self._mode = decision.mode
            events.append(
                ("GOVERNOR_MODE", {"mode": int(decision.mode), "reason": decision.reason})
            )
        self.events(events)
        eclipse_stops_gpu = self.governor.eclipse_stops_gpu(status.reading)
        self.events(
            self._results_queued(
                self.runner.step(
                    self.time,
                    decision.may_run and not self.safe.active,  # entered just now: no start
                    work,
                    lambda jobs: self.scheduler.choose(jobs, self.time, bus, eclipse_stops_gpu),
                )
            )
        )

    def _results_queued(self, events: list[tuple[str, dict[str, Any]]]) -> list:
        """The job events, each ended job's results queued for downlink on the way (a simulated
        job has no files)."""
        for name, values in events:
            job = self.runner.jobs.get(values.get("job_id")) if name in _RESULT_EVENTS else None
            if job is not None and not job.spec.simulated:
                events += self._downlink(
                    lambda job=job: self.downlink.queue_results(
                        job.rec.id, job.workdir, job.results()
                    )
                )
        return events

    def _downlink(self, action: Callable[[], Any]) -> list[tuple[str, dict[str, Any]]]:
        """Run a downlink step; what it could not write (disk full or failing) becomes a
        STORE_ERROR event instead of an exception, and the step is retried by its own timers."""
        try:
            events = action() or []
        except (OSError, sqlite3.Error) as exc:
            log.error("downlink: %s", exc)
            events = [("STORE_ERROR", {"reason": f"downlink: {exc}"})]
        errors = self.downlink.recorder.errors - self._record_errors_told
        if errors:
            self._record_errors_told = self.downlink.recorder.errors
            reason = f"downlink: {errors} telemetry packets not recorded (disk full or failing)"
            events.append(("STORE_ERROR", {"reason": reason}))
        return events

    def _queue_unsent_results(self) -> None:
        """After a restart: results of jobs that ended before their downlink was queued."""
        for job in self.runner.jobs.values():
            if job.state in _RESULT_STATES and not job.spec.simulated:
                self.downlink.queue_results(job.rec.id, job.workdir, job.results())

    def _switch_gpu(self, bus: BusState) -> None:
        """Ask the bus to switch the GPU off when even its idle draw is too much, and on when
        there is work and power for it."""
        if self.gpu.backend is None or self.gpu.lost:
            return
        job_running = self.runner.running is not None
        want = self.governor.power_wanted(
            bus, self.gpu.powered, job_running, self.runner.queued > 0
        )
        if want and not self.gpu.powered:
            self.gpu.request(d.GpuPower.ON, f"allowance {bus.allowance_w:.0f} W: jobs can run")
        elif not want and self.gpu.powered:
            self.gpu.request(
                d.GpuPower.OFF, f"allowance {bus.allowance_w:.0f} W: not enough for an idle GPU"
            )

    def _bus(self) -> BusState:
        b = self.bus_state
        return BusState(
            allowance_w=b["power_allowance_w"],
            sink_c=b["sink_temp_c"],
            sunlit=bool(b["sunlit"]),
            eclipse_in_s=b["eclipse_in_s"],
            eclipse_s=b["eclipse_s"],
        )

    def housekeeping(self) -> dict[str, Any]:
        """The values of the housekeeping report, now."""
        job = self.runner.current
        counters = {f.name: getattr(self.counters, f.name) for f in fields(self.counters)}
        bus = {k: v for k, v in self.bus_state.items() if k != "eclipse_s"}
        return (
            counters
            | bus
            | self._gpu_housekeeping()
            | {
                "sid": d.HK_SID,
                "uptime_s": int(max(0.0, self.time - self.first_tick_time)),
                "ticks": self.ticks,
                "frames_rx": self.frames_rx,
                "frames_bad": self.deframer.frames_bad,
                "tm_sent": self.tm.sent,
                "tm_dropped": self.tm.dropped,
                "jobs_queued": self.runner.queued,
                "jobs_completed": self.runner.completed,
                "jobs_failed": self.runner.failed,
                "job_state": int(job.state) if job else int(d.JobState.NONE),
                "job_elapsed_s": int(job.rec.run_s) if job else 0,
                "job_progress_pct": round(100 * job.rec.progress) if job else 0,
                "jobs_held": self.runner.held,
                "governor_mode": int(self._mode),
                "safe_mode": int(self.safe.active),
                "faults_recent": min(0xFFFF, self.safe.recent(self.time)),
            }
            | self.downlink.housekeeping()
        )

    def _gpu_housekeeping(self) -> dict[str, Any]:
        """The GPU's housekeeping fields: not valid (no value, gpu_valid 0) while there is no
        reading (no GPU, lost, off)."""
        r = self.gpu.reading
        values: dict[str, Any] = dict.fromkeys(_GPU_HK_FIELDS)
        if r is not None:
            values = {
                "gpu_power_w": r.power_w,
                "gpu_limit_w": r.power_limit_w,
                "gpu_temp_c": r.temperature_c,
                "gpu_slowdown_c": r.slowdown_c,
                "gpu_sm_clock_mhz": r.sm_clock_mhz,
                "gpu_reasons": r.clock_event_reasons,
                "gpu_util_pct": min(100, r.utilization_pct),
                "gpu_mem_used_mib": r.memory_used_mib,
                "gpu_ecc_corrected": r.ecc_corrected,
                "gpu_ecc_uncorrected": r.ecc_uncorrected,
                "gpu_remapped_rows": min(0xFFFF, r.remapped_rows),
            }
        return values | {
            "gpu_valid": int(r is not None),
            "payload_power_w": (values["gpu_power_w"] or 0.0) + self.governor.config.overhead_w,
            "gpu_control": int(self.gpu.control),
        }


def _pages(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Items split into lists that each encode in at most JOB_LIST_PAGE_OCTETS."""
    pages: list[list[dict[str, Any]]] = [[]]
    size = 0
    for item in items:
        octets = len(msgpack.packb(item, use_bin_type=True))
        if pages[-1] and size + octets > JOB_LIST_PAGE_OCTETS:
            pages.append([])
            size = 0
        pages[-1].append(item)
        size += octets
    return pages


def _no_check(args: dict[str, Any]) -> dict[str, Any]:
    return args


def _request_fields(request_id: bytes) -> dict[str, int]:
    return {
        "request_packet_id": int.from_bytes(request_id[:2], "big"),
        "request_seq_ctrl": int.from_bytes(request_id[2:4], "big"),
    }


def open_link(url: str, baud: int) -> serial.SerialBase:
    """Open the bus link: a tty, a pty or any pyserial URL."""
    return serial.serial_for_url(
        url, baudrate=baud, timeout=READ_TIMEOUT_S, write_timeout=WRITE_TIMEOUT_S
    )
