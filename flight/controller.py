"""The payload controller: reads telecommands from the bus link, executes them, answers with
PUS 1 verification, and sends one housekeeping report per bus tick.

Single-threaded and driven by the bus: the bus's ticks are its only clock, jobs are supervised on
each tick, and no byte sequence on the link can raise out of the loop or stall it. The controller
composes its parts (admission, dispatch, the handlers beside each subsystem, the control step,
housekeeping) over the collaborators it is handed in a Board (board.py builds one).
"""

from __future__ import annotations

import logging
import select
import signal
from typing import Any

import serial

from flight import __version__
from flight.board import Board
from flight.commanding.admission import Admission
from flight.commanding.counters import Counters
from flight.commanding.dispatch import Dispatcher, Handler, Handlers
from flight.commanding.verification import Verification
from flight.control_step import ControlStep
from flight.downlink.commands import DownlinkCommands
from flight.downlink.results import ResultsDownlink
from flight.gpu.commands import GpuCommands
from flight.housekeeping import Housekeeping
from flight.image.commands import ImageCommands
from flight.image.manager import RESTART_STATUS
from flight.jobs.commands import JobCommands
from flight.jobs.store import StoreError
from flight.protocol.packets import Telecommand
from flight.relay.commands import RelayCommands
from flight.relay.delivery import run_consignment
from flight.relay.service import Relay
from flight.safe_mode.commands import SafeModeCommands
from flight.security.commands import KeyCommands
from flight.tables.commands import TableCommands
from flight.tables.declared import TABLES
from flight.events import EV

log = logging.getLogger("flight")

READ_TIMEOUT_S = 0.05
WRITE_TIMEOUT_S = 2.0  # a port without a descriptor (a pyserial URL); ttys are never blocked on
STOP_FLUSH_S = 1.0  # at stop: what is queued for the line gets this long to go out


class Controller:
    """The payload controller on one bus link, over the collaborators of ``board``."""

    def __init__(self, link: serial.SerialBase, board: Board) -> None:
        self.link = link
        self.board = board
        self.exit_status = 0  # RESTART_STATUS: to be started again (into a new version)
        self.clock = board.clock
        self.tm = board.tm
        self.reports = board.reports
        self.auth = board.auth
        self.runner = board.runner
        self.downlink = board.downlink
        self.gpu = board.gpu
        self.faults = board.faults
        self.governor = board.governor
        self.safe = board.safe
        self.image = board.image
        self.watchdog = board.watchdog
        self.counters = Counters()
        verification = Verification(self.reports, self.counters)
        self.admission = Admission(self.auth, self.counters, verification, self.reports)
        self.results = ResultsDownlink(self.downlink, self.runner)
        self.control = ControlStep(
            self.clock,
            self.reports,
            self.gpu,
            self.faults,
            self.governor,
            self.safe,
            self.runner,
            self.results,
        )
        self.housekeeping = Housekeeping(
            self.clock,
            self.counters,
            self.admission,
            self.tm,
            self.control,
            self.gpu,
            self.runner,
            self.safe,
            self.downlink,
            board.tables,
        )
        handlers: Handlers = {
            "PING": Handler(self._ping),
            "NOOP": Handler(lambda tc, args: None),
            "RESET_COUNTERS": Handler(self._reset_counters),
            "BUS_TICK": Handler(self._tick),
        }
        for service in (
            JobCommands(
                self.runner, self.reports, board.job_keys, self.gpu, self.faults is not None
            ),
            GpuCommands(self.gpu, self.governor, self.reports),
            DownlinkCommands(self.downlink),
            KeyCommands(self.auth, self.reports),
            SafeModeCommands(self.safe, self.reports),
            ImageCommands(self.image, self.downlink.entity.store, self.reports, self._restart),
            TableCommands(
                board.tables,
                self.downlink.entity.store,
                self.reports,
                {spec.name: getattr(board, spec.sets).configure for spec in TABLES},
            ),
            RelayCommands(board.relay, self.downlink.entity.store, self.reports),
        ):
            offered = service.handlers()
            if twice := sorted(set(offered) & set(handlers)):
                raise ValueError(f"commands with two handlers: {twice}")
            handlers |= offered
        self.dispatcher = Dispatcher(handlers, verification, self.counters)
        self._running = True

    # --- the loop
    def run(self) -> None:
        """Serve the link until stop() or SIGTERM/SIGINT."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        self.tm.start_line()
        self.reports.events(self.auth.floors())  # first: a sender that waits for the start has them
        self.reports.event(EV.CONTROLLER_STARTED(version=__version__))
        self.reports.events(self.board.tables.fallbacks)
        if self.board.relay is not None:
            self.reports.events(self.board.relay.started)
        self.reports.events(self.gpu.started())
        if self.image is not None:
            self.reports.events(self.image.started())
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
            self.reports.events(self.results.guarded(self.downlink.catch_up))

    def close(self) -> None:
        """Stop the running job (it is requeued) and close the stores and the fault channel;
        what the event throttle still holds goes out first."""
        self.reports.flush()
        self.tm.tx.flush(STOP_FLUSH_S)
        self.board.close()

    def stop(self) -> None:
        """Leave the loop after the current read."""
        self._running = False

    def receive(self, data: bytes) -> None:
        """Handle bytes from the link: every complete frame is one packet. Nothing a packet does
        raises out of here: a defect is logged with its traceback and counted."""
        for raw in self.admission.frames(data):
            try:
                tc = self.admission.admit(raw)
                if tc is not None:
                    self.dispatcher.execute(tc)
            except Exception:  # a defect outside any command: the next packet is served
                self.counters.internal_errors += 1
                log.exception("internal error handling a packet")

    # --- the controller's own commands
    def _ping(self, tc: Telecommand, _args: Any) -> None:
        self.reports.send("PING_REPORT", {}, dest_id=tc.source_id)

    def _reset_counters(self, _tc: Telecommand, _args: Any) -> None:
        self.counters.reset()
        self.admission.deframer.frames_bad = 0
        self.tm.reset_dropped()

    def _restart(self) -> None:
        """Stop after this packet, to be started again (by systemd, into the current slot)."""
        self.exit_status = RESTART_STATUS
        self.stop()

    def _consignments(self, relay: Relay) -> None:
        """Run what the ground sent this payload by the mesh, as if it came up the link; a
        defect one runs into is logged and counted, and the tick goes on."""
        for consignment in list(relay.deliveries):
            try:
                self.reports.events(
                    self.results.guarded(
                        lambda c=consignment: [
                            run_consignment(c, relay, self.admission, self.dispatcher)
                        ]
                    )
                )
            except Exception:
                self.counters.internal_errors += 1
                log.exception("internal error running consignment %s", consignment.name)
                if consignment in relay.deliveries:
                    relay.deliveries.remove(consignment)

    def _tick(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        """A bus second: the clock, the downlink's and the relay's second (and the consignments
        the relay delivered, run as if they came up the link), the control step, the
        image's trial, the event throttle's summaries, and the housekeeping report that answers
        the tick."""
        expected = self.clock.set(args["time"])
        bus_state = self.control.bus_state
        bus_state.update((key, args[key]) for key in bus_state)
        link_events = self.results.guarded(
            lambda: self.downlink.second(self.clock.time, bus_state["link_in_s"] == 0)
        )
        recover = not self.clock.synced
        self.reports.events(self.clock.synchronise(expected))
        if recover and self.safe.unclean_start:
            self.safe.unclean_start = False
            self.reports.event(EV.UNCLEAN_START())
        self.reports.events(link_events)
        if self.board.relay is not None:
            relay = self.board.relay
            self.reports.events(self.results.guarded(lambda: relay.second(self.clock.time)))
            self._consignments(relay)
        try:
            if recover:
                self.reports.events(self.results.queued_after(self.runner.recover(self.clock.time)))
                self.reports.events(self.results.queue_unsent())
            self.control.second()
        except StoreError as exc:
            log.error("job store: %s", exc)
            self.reports.event(EV.STORE_ERROR(reason=str(exc)))
        if self.image is not None:
            events, restart = self.image.second(self.safe.active)
            self.reports.events(events)
            if restart:
                self._restart()
        self.reports.second()
        self.reports.send("HOUSEKEEPING", self.housekeeping.values(), synced=True)


def open_link(url: str, baud: int) -> serial.SerialBase:
    """Open the bus link: a tty, a pty or any pyserial URL."""
    return serial.serial_for_url(
        url, baudrate=baud, timeout=READ_TIMEOUT_S, write_timeout=WRITE_TIMEOUT_S
    )
