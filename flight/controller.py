"""The payload controller: reads telecommands from the bus link, executes them, answers with
PUS 1 verification, and sends one housekeeping report per bus tick.

Single-threaded and driven by the bus: the bus's ticks are its only clock, jobs are supervised on
each tick, and no byte sequence on the link can raise out of the loop or stall it.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import serial

from flight import __version__
from flight import dictionary as d
from flight.jobs.manifest import ManifestError, parse_manifest
from flight.jobs.runner import JobRejected, JobRunner
from flight.protocol.framing import Deframer
from flight.protocol.messages import decode_command
from flight.protocol.packets import PacketError, Telecommand, Telemetry, parse_packet
from flight.telemetry import TelemetryWriter

log = logging.getLogger("flight")

READ_TIMEOUT_S = 0.05
TIME_JUMP_S = 0.5  # a tick further than this from one second after the last is a jump
WRITE_TIMEOUT_S = 2.0


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

    def reset(self) -> None:
        """Set every counter to zero."""
        for f in fields(self):
            setattr(self, f.name, 0)


_PACKET_ERROR_COUNTER = {
    d.FailureCode.BAD_CHECKSUM: "packets_bad_crc",
    d.FailureCode.ILLEGAL_APID: "packets_unknown_apid",
}


class Controller:
    """The payload controller on one bus link."""

    def __init__(self, link: serial.SerialBase, state_dir: Path) -> None:
        self.link = link
        self.state_dir = state_dir
        self.tm = TelemetryWriter(link)
        self.deframer = Deframer()
        self.counters = Counters()
        self.runner = JobRunner(state_dir / "bin", state_dir / "jobs")
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
            "link_in_s": d.NONE_AHEAD,
        }
        self._running = True
        # command name -> (acceptance check returning the prepared arguments, execution)
        self._commands: dict[
            str, tuple[Callable[[dict], Any], Callable[[Telecommand, Any], None]]
        ] = {
            "PING": (_no_check, self._ping),
            "NOOP": (_no_check, lambda tc, args: None),
            "RESET_COUNTERS": (_no_check, self._reset_counters),
            "SUBMIT_JOB": (self._check_manifest, self._submit_job),
            "REPORT_JOBS": (_no_check, self._report_jobs),
            "BUS_TICK": (_no_check, self._tick),
        }

    # --- the loop
    def run(self) -> None:
        """Serve the link until stop() or SIGTERM/SIGINT."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        self.event("CONTROLLER_STARTED", {"version": __version__})
        try:
            while self._running:
                data = self.link.read(self.link.in_waiting or 1)
                if data:
                    self.receive(data)
        finally:
            self.runner.shutdown()

    def stop(self) -> None:
        """Leave the loop after the current read."""
        self._running = False

    def receive(self, data: bytes) -> None:
        """Handle bytes from the link: every complete frame is one packet."""
        for raw in self.deframer.feed(data):
            self.frames_rx += 1  # counted as handled: housekeeping counts the frames before it
            self.handle_packet(raw)

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
        self.execute(packet)

    def execute(self, tc: Telecommand) -> None:
        """Acceptance checks, then execution, each verified as the command's ack flags ask."""
        try:
            command, args = decode_command(tc)
            check, run = self._commands[command.name]
            prepared = check(args)
        except (PacketError, CommandError) as exc:
            self._reject(tc, exc.code, str(exc))
            return
        if command.source != d.SOURCE_BUS:
            self.counters.tc_accepted += 1
        self._verify(tc, d.ACK_ACCEPTANCE, "ACCEPTANCE_SUCCESS")
        try:
            run(tc, prepared)
        except CommandError as exc:
            self.counters.tc_failed += 1
            self._failure("COMPLETION_FAILURE", tc.request_id, tc.source_id, exc.code, str(exc))
            return
        self._verify(tc, d.ACK_COMPLETION, "COMPLETION_SUCCESS")

    # --- verification
    def _reject(self, tc: Telecommand, code: d.FailureCode, reason: str) -> None:
        self.counters.tc_rejected += 1
        if code is d.FailureCode.MANIFEST_INVALID:
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
        values = _request_fields(request_id) | {"code": int(code), "reason": reason[:255]}
        self.tm.send(name, values, time=self.time, synced=self.synced, dest_id=dest)

    def event(self, name: str, values: dict[str, Any]) -> None:
        """Send an event report."""
        log.info("event %s %s", name, values)
        self.tm.send_event(name, values, time=self.time, synced=self.synced)

    # --- commands
    def _ping(self, tc: Telecommand, _args: Any) -> None:
        self.tm.send("PING_REPORT", {}, time=self.time, synced=self.synced, dest_id=tc.source_id)

    def _reset_counters(self, _tc: Telecommand, _args: Any) -> None:
        self.counters.reset()
        self.deframer.frames_bad = 0
        self.tm.dropped = 0

    def _check_manifest(self, args: dict[str, Any]) -> Any:
        try:
            return parse_manifest(args["manifest"])
        except ManifestError as exc:
            raise CommandError(d.FailureCode.MANIFEST_INVALID, f"manifest: {exc}") from None

    def _submit_job(self, _tc: Telecommand, spec: Any) -> None:
        try:
            self.runner.submit(spec, self.time)
        except JobRejected as exc:
            raise CommandError(exc.code, str(exc)) from None
        self.event("JOB_QUEUED", {"job_id": spec.job_id})

    def _report_jobs(self, tc: Telecommand, _args: Any) -> None:
        jobs = [job.summary() for job in self.runner.jobs.values()]
        self.tm.send(
            "JOB_LIST", {"jobs": jobs}, time=self.time, synced=self.synced, dest_id=tc.source_id
        )

    def _tick(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        expected = self.time + 1.0
        self.time = args["time"]
        self.bus_state = {key: args[key] for key in self.bus_state}
        if not self.synced:
            self.synced = True
            self.first_tick_time = self.time
            self.event("TIME_SYNCHRONISED", {"time": self.time})
        elif abs(self.time - expected) > TIME_JUMP_S:
            self.event("TIME_JUMP", {"expected": expected, "received": self.time})
        self.ticks += 1
        for name, values in self.runner.step(self.time):
            self.event(name, values)
        self.tm.send("HOUSEKEEPING", self.housekeeping(), time=self.time, synced=True)

    def housekeeping(self) -> dict[str, Any]:
        """The values of the housekeeping report, now."""
        job = self.runner.current
        counters = {f.name: getattr(self.counters, f.name) for f in fields(self.counters)}
        return (
            counters
            | self.bus_state
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
                "job_elapsed_s": int(job.runtime(self.time)) if job else 0,
            }
        )


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
