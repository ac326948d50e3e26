"""The emulated spacecraft bus: the payload's only clock, its power source and its radio.

It sends a BUS_TICK telecommand every bus second (time, power allowance and environment),
forwards ground telecommands for the payload's APID from the radio link to the serial line,
passes the payload's telemetry down to the radio (only in link windows when the scenario says
so; through the radio's rate, delay and losses, hil/radio.py), and records every packet that
crosses the serial line. Bus-level faults (reset, outage, brownout, clock jump) are injected
here; byte-level ones in the serial line (hil/serial_line.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, replace
from typing import TypeVar

from flight import dictionary as d
from flight.protocol.fields import FieldError
from flight.protocol.framing import Deframer, frame, read_frames
from flight.protocol.loopback import is_idle, loopback_packet
from flight.protocol.messages import (
    CommandEncoder,
    DecodedTelemetry,
    decode_command,
    decode_telemetry,
)
from flight.security.tc_auth import TRAILER_LEN, TcSigner
from flight.protocol.packets import PacketError, Telemetry, parse_packet
from hil.cfdp_figures import ARRIVED, LINE_DAMAGE, NO_WINDOW, RADIO_LOSS, CfdpTrack
from hil.environment import Environment
from hil.radio import RadioConfig, RadioPath
from hil.serial_line import Direction, SerialLine

T = TypeVar("T")
SYNC_TIMEOUT_S = 2.0
_CFDP_TC = d.COMMANDS_BY_NAME["CFDP_PDU"]


ANSWER_TIMEOUT_S = 10.0  # wall seconds a lockstep tick waits for its housekeeping
NOISY_ANSWER_TIMEOUT_S = 1.0  # the same on a line with bit errors, where answers get lost
GPU_POWER_CYCLE_S = 10  # bus seconds the GPU's supply stays off when the payload asks a cycle


class BusTimeout(Exception):
    """A bench-time deadline passed."""


def _damage(direction: Direction) -> int:
    return direction.bits_flipped + direction.faults_injected


class BusEmulator:
    """The bus side of one serial line and the spacecraft end of the radio link."""

    def __init__(
        self,
        fd: int,
        *,
        start_time: float,
        environment: Environment,
        baud: int | None = None,
        speed: float = 1.0,
        seed: int = 0,
        relay_windows: bool = False,
        radio: RadioConfig | None = None,
        signer: TcSigner,
    ) -> None:
        self.line = SerialLine(fd, self._from_line, baud=baud, seed=seed, speed=speed)
        self.time = start_time  # of the last tick sent
        self.announced = start_time  # the last second the clock has announced to waiters
        self.start_time = start_time
        self.environment = environment
        self.deframer = Deframer()
        self.tm_log = bytearray()
        self.tc_log = bytearray()
        self.tm_packets = 0
        self.tc_packets = 0
        self.tm_bad = 0
        self.tm_no_window = 0  # telemetry not relayed: no link window
        self.window_open = environment.link_up(0)  # as the last tick told the payload
        self.relay_windows = relay_windows  # relay telemetry only while a window is open
        self.radio = radio or RadioConfig()
        radio_rng = random.Random(seed ^ 0x5AD10)
        self.radio_down = RadioPath(self.radio, self.radio.rate_bps, radio_rng)
        self.radio_up = RadioPath(self.radio, None, radio_rng)
        self._holds = 0  # commands in flight under hold()
        self.sync_station = False  # lockstep: the station answers each second before the next
        self.syncs_missed = 0
        self._syncs = 0
        self._sync_frame = b""
        self._synced = asyncio.Event()
        self._relayed_pdus = False  # CFDP PDUs relayed since the last sync
        self.tc_dropped = 0
        self.cfdp = CfdpTrack()  # the file traffic each way, its retransmissions and causes
        self.ticks = 0
        self.ticks_unanswered = 0
        self.unanswered_streak = 0
        self.longest_unanswered_streak = 0  # consecutive answerable ticks not answered: a stall
        self.answer_lag_max_s = 0.0  # real time: the most bus seconds a tick waited for its answer
        self._awaiting: deque[float] = deque()  # real time: answerable ticks not yet answered
        self._damaged_at_hk = 0  # real time: damaged frames from the payload at the last answer
        self.resets = 0
        self.last_hk: DecodedTelemetry | None = None
        self.events: list[DecodedTelemetry] = []
        self.listeners: list[Callable[[DecodedTelemetry], None]] = []  # called for every packet
        self.lockstep = False  # set before the clock starts
        self.answer_timeout_s = ANSWER_TIMEOUT_S  # shorter where the payload is killed on purpose
        self._breakpoints: set[float] = set()
        self._running = asyncio.Event()
        self._running.set()
        self.commands = CommandEncoder(signer, ack_flags=0)  # ticks ask for no reports
        self._quiet_ticks = 0  # bus reset: seconds left without ticks or forwarding
        self.gpu_power_cycle_s = GPU_POWER_CYCLE_S
        self.gpu_power_cycles = 0
        self.gpu_switched_off = 0
        self._gpu_switch: list[tuple[int, bool]] = []  # (seconds from now, on) the bus will do
        self._outage_ticks = 0
        self._brownout_ticks = 0
        self._radio: asyncio.StreamWriter | None = None
        self._server: asyncio.base_events.Server | None = None
        self._clock = asyncio.Condition()
        self._hk = asyncio.Condition()

    # --- set-up
    async def start(self) -> None:
        """Start serving the serial line and listening for the ground station's radio link."""
        self.line.start()
        self._server = await asyncio.start_server(self._radio_link, "127.0.0.1", 0)

    @property
    def radio_port(self) -> int:
        """The TCP port the ground station connects its space link to."""
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving both links."""
        self.line.stop()
        if self._radio is not None:
            self._radio.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def damaged_frames(self) -> int:
        """Frames from the payload that arrived unusable."""
        return self.deframer.frames_bad + self.tm_bad

    # --- serial line
    def _from_line(self, data: bytes) -> None:
        damaged = self.damaged_frames
        for raw in self.deframer.feed(data):
            self._from_payload(raw)
        if self.damaged_frames != damaged:  # the answer to a tick may be the one lost
            asyncio.get_running_loop().create_task(self._notify(self._hk))

    def _from_payload(self, raw: bytes) -> None:
        try:
            packet = parse_packet(raw)
            if not isinstance(packet, Telemetry):
                raise PacketError(d.FailureCode.NOT_A_TELECOMMAND, "a telecommand from the payload")
            tm = decode_telemetry(packet)
        except (PacketError, FieldError):
            self.tm_bad += 1
            return
        self.tm_log += raw
        self.tm_packets += 1
        if tm.event is not None:
            self.events.append(tm)
            if tm.name == "GPU_POWER_REQUEST":
                self._gpu_power_request(d.GpuPower(tm.values["action"]))
            elif tm.name == "SEQUENCE_FLOOR":  # a restarted payload: tick above its window
                self.commands.signer.heard_floor(tm.values["key_id"], tm.values["floor"])
        for listener in self.listeners:
            listener(tm)
        fate = ARRIVED
        if self.relay_windows and not self.window_open:
            self.tm_no_window += 1  # no station in view: the payload's recording has it
            fate = NO_WINDOW
        elif not self.radio.immediate:
            fate = ARRIVED if self.radio_down.admit(frame(raw), self.time) else RADIO_LOSS
        else:
            self._to_station(frame(raw))
            self._relayed_pdus |= tm.name == "CFDP_PDU"
        if tm.name == "CFDP_PDU":
            self.cfdp.down(tm.values["pdu"], fate)
        if tm.name == "HOUSEKEEPING":
            self._answered_until(tm.packet.time)
            self.last_hk = tm
            asyncio.get_running_loop().create_task(self._notify(self._hk))

    @staticmethod
    async def _notify(condition: asyncio.Condition) -> None:
        async with condition:
            condition.notify_all()

    def send_to_payload(self, packet: bytes) -> bool:
        """Send one telecommand packet on the serial line, recording it; whether the line
        passed it undamaged."""
        self.tc_log += packet
        self.tc_packets += 1
        damage = _damage(self.line.up)
        self.line.write(frame(packet))
        return _damage(self.line.up) == damage and not self.line.outage

    def _relay_up(self, packet: bytes) -> None:
        """A ground telecommand out of the radio, onto the serial line (its file traffic
        followed)."""
        intact = self.send_to_payload(packet)
        self._follow_up(packet, ARRIVED if intact else LINE_DAMAGE)

    def _follow_up(self, packet: bytes, fate: str) -> None:
        """Note a CFDP PDU from the ground with what became of it."""
        if len(packet) < 9 or (packet[7], packet[8]) != (_CFDP_TC.service, _CFDP_TC.subtype):
            return
        try:
            tc = parse_packet(packet)
            _, args = decode_command(replace(tc, app_data=tc.app_data[:-TRAILER_LEN]))
        except (PacketError, FieldError):
            return
        self.cfdp.up(args["pdu"], fate)

    def write_line(self, data: bytes) -> None:
        """Put raw bytes on the serial line (fault injection uses this directly)."""
        self.line.write(data)

    # --- bus faults
    def bus_reset(self, seconds: int) -> None:
        """The on-board computer restarts: no ticks and nothing forwarded for ``seconds``, then
        ticks again with its packet sequence count from zero."""
        self.resets += 1
        self._quiet_ticks = max(self._quiet_ticks, seconds)
        self.line.outage = True
        self.commands.restart()

    def outage(self, seconds: int) -> None:
        """The line carries nothing for ``seconds``, both ways (the payload's output is drained
        and lost); ticks go on but do not arrive."""
        self._outage_ticks = max(self._outage_ticks, seconds)
        self.line.outage = True

    def brownout(self, seconds: int) -> None:
        """The EPS gives the payload nothing for ``seconds``."""
        self._brownout_ticks = max(self._brownout_ticks, seconds)

    def clock_jump(self, seconds: float) -> None:
        """The bus's time steps by ``seconds`` (forward or back) from the next tick on."""
        self.time += seconds

    # --- radio link
    async def _radio_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._radio is not None:
            self._radio.close()
        self._radio = writer
        try:
            async for raw in read_frames(reader, Deframer()):
                if is_idle(raw):
                    if raw == self._sync_frame:
                        self._synced.set()
                elif self._quiet_ticks:
                    self.tc_dropped += 1  # the bus is restarting: nothing is forwarded
                elif len(raw) >= 6 and int.from_bytes(raw[:2], "big") & 0x7FF == d.APID_PAYLOAD:
                    self._from_station(raw)
                else:
                    self.tc_dropped += 1
        except (OSError, asyncio.CancelledError):
            pass  # the station went away, or the bench is shutting the link down
        finally:
            if self._radio is writer:
                self._radio = None
            writer.close()

    def _from_station(self, raw: bytes) -> None:
        if self.radio.immediate:
            self._relay_up(raw)
            return
        if not self.radio_up.admit(raw, self.time):
            self._follow_up(raw, RADIO_LOSS)
        if self._holds:  # a command's round trip takes bus time through this radio: let it run
            self._running.set()

    def _to_station(self, data: bytes) -> None:
        if self._radio is not None and not self._radio.is_closing():
            self._radio.write(data)

    async def _sync_station(self) -> None:
        """In lockstep, after a second that relayed CFDP PDUs: let the station take them in and
        answer (ACK, NAK, Finished) before the next tick, so every run of a seed is the same.
        The station echoes a sync packet after all that came before it; what it sent up before
        the echo is on the serial line ahead of the next tick. (A station's own uploads are not
        paced by this: their timing in lockstep follows the station's speed.)"""
        self._relayed_pdus = False
        if self._radio is None or self._radio.is_closing():
            return
        self._syncs += 1
        self._sync_frame = loopback_packet(self._syncs)
        self._synced.clear()
        self._radio.write(frame(self._sync_frame))
        try:
            await asyncio.wait_for(self._synced.wait(), SYNC_TIMEOUT_S)
        except TimeoutError:
            self.syncs_missed += 1

    # --- time
    def tick(self) -> bool:
        """Advance bus time one second and send the tick with the environment of that second.

        Returns whether the payload can answer it: False while the bus restarts or the line is
        out, or when the line damaged the tick on its way."""
        env = self.environment.tick(self.ticks, self._payload_draw())
        self.window_open = env.link_in_s == 0
        self.time += 1.0
        self.ticks += 1
        if self._quiet_ticks:
            self._quiet_ticks -= 1
            self.line.outage = bool(self._quiet_ticks or self._outage_ticks)
            return False
        if self._brownout_ticks:
            self._brownout_ticks -= 1
            env = replace(env, power_allowance_w=0.0)
        args = {"time": self.time} | asdict(env)
        args["sunlit"] = int(env.sunlit)
        packet = self.commands.packet("BUS_TICK", args)
        damage = _damage(self.line.up)
        lost = self.line.outage
        self.send_to_payload(packet)
        for raw in self.radio_up.due(self.time):
            self._relay_up(raw)
        for data in self.radio_down.due(self.time):
            self._to_station(data)
        self._gpu_power_switch()
        if self._outage_ticks:
            self._outage_ticks -= 1
            self.line.outage = bool(self._outage_ticks)
        return not lost and _damage(self.line.up) == damage

    def _payload_draw(self) -> float | None:
        """What the payload drew last second, as its housekeeping measured it (the EPS meters
        the payload's line); its allowance when it has not said."""
        if self.last_hk is None or "payload_power_w" not in self.last_hk.values:
            return None
        return float(self.last_hk.values["payload_power_w"])

    def _gpu_power_request(self, action: d.GpuPower) -> None:
        """The payload asks to switch the GPU's supply: the bus does it at the next second (a
        cycle: off, and on again GPU_POWER_CYCLE_S later)."""
        if action is d.GpuPower.CYCLE:
            self.gpu_power_cycles += 1
            self._gpu_switch += [(1, False), (1 + self.gpu_power_cycle_s, True)]
        else:
            self.gpu_switched_off += action is d.GpuPower.OFF
            self._gpu_switch.append((1, action is d.GpuPower.ON))

    def _gpu_power_switch(self) -> None:
        """Carry out the GPU supply switching that is due, and tell the payload."""
        due = [on for left, on in self._gpu_switch if left <= 1]
        self._gpu_switch = [(left - 1, on) for left, on in self._gpu_switch if left > 1]
        for on in due:
            self.send_to_payload(self.commands.packet("GPU_POWER_STATE", {"on": int(on)}))

    async def run_clock(self, speed: float | None) -> None:
        """Tick forever: ``speed`` bus seconds per wall second, or lockstep when None: each tick
        waits for the housekeeping that answers it (unless none can come), and only then is the
        second announced to the scenario, so a timeline step never overtakes its tick."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        while True:
            await self._running.wait()
            damaged = self.damaged_frames
            answerable = self.tick()
            if speed is not None and answerable:
                self._awaiting.append(self.time)
            if speed is None:
                if answerable:
                    await self._await_answer(damaged)
                if self.sync_station and self._relayed_pdus:
                    await self._sync_station()
                reached = {t for t in self._breakpoints if t <= self.time}
                if reached:  # pause here: the scenario acts, then resumes the clock
                    self._breakpoints -= reached
                    self._running.clear()
                await self._announce()
            else:
                await self._announce()
                await asyncio.sleep(max(0.0, t0 + self.ticks / speed - loop.time()))

    async def _announce(self) -> None:
        """Tell waiters the bus second of the last tick: only now, not when the tick is sent,
        may they act on it (in lockstep, after it was answered)."""
        self.announced = self.time
        await self._notify(self._clock)

    async def _await_answer(self, damaged: int) -> None:
        noisy = self.line.up.ber or self.line.down.ber
        try:
            await asyncio.wait_for(
                self._answered(self.time, damaged),
                NOISY_ANSWER_TIMEOUT_S if noisy else self.answer_timeout_s,
            )
            self.unanswered_streak = 0
        except TimeoutError:
            self._unanswered()

    def _unanswered(self) -> None:
        self.ticks_unanswered += 1
        self.unanswered_streak += 1
        self.longest_unanswered_streak = max(self.longest_unanswered_streak, self.unanswered_streak)

    def _answered_until(self, hk_time: float) -> None:
        """Real time: housekeeping of ``hk_time`` answers that tick; an answerable tick before it
        that got no housekeeping of its own is unanswered (the payload answers in order), unless
        a frame from the payload arrived damaged meanwhile (the answer may be the one lost, as in
        lockstep)."""
        self.answer_lag_max_s = max(self.answer_lag_max_s, self.time - hk_time)
        excused = self.damaged_frames - self._damaged_at_hk
        self._damaged_at_hk = self.damaged_frames
        while self._awaiting and self._awaiting[0] <= hk_time:
            if self._awaiting.popleft() == hk_time:
                self.unanswered_streak = 0
            elif excused:
                excused -= 1
            else:
                self._unanswered()

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """In lockstep, stop bus time while the body runs (a command in flight lands on the same
        bus second in every run); in real time, time goes on as on a real bus. Through a radio
        with a delay, a rate or losses, the clock runs again once the command has reached the
        radio (it is stamped with the held second, so runs stay the same)."""
        if not self.lockstep:
            yield
            return
        was_running = self._running.is_set()
        self._running.clear()
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if was_running:
                self._running.set()
            else:  # paused before: paused again (a radio round trip may have let it run)
                self._running.clear()

    async def until(self, bus_time: float) -> None:
        """Wait until bus time reaches ``bus_time``. In lockstep the clock pauses there, its tick
        answered, until resume(): what the caller does next happens at that bus second."""
        if self.lockstep and bus_time > self.announced:
            self._breakpoints.add(bus_time)
        async with self._clock:
            await self._clock.wait_for(lambda: self.announced >= bus_time)

    def resume(self) -> None:
        """Let the clock run on after until() or pause() stopped it."""
        self._running.set()

    async def pause(self) -> None:
        """In lockstep, stop the clock (until resume()); returns once a tick in flight has been
        answered and announced, so bus time stands still from then on."""
        if not self.lockstep:
            return
        self._running.clear()
        async with self._clock:
            await self._clock.wait_for(lambda: self.announced >= self.time)

    async def _answered(self, bus_time: float, damaged: int) -> None:
        """The tick's housekeeping arrived, or a frame from the payload arrived damaged (the
        answer may be the one lost)."""
        async with self._hk:
            await self._hk.wait_for(
                lambda: (
                    (self.last_hk is not None and self.last_hk.packet.time >= bus_time)
                    or self.damaged_frames != damaged
                )
            )

    async def wait_housekeeping(self) -> DecodedTelemetry:
        """The next housekeeping report."""
        current = self.last_hk
        async with self._hk:
            await self._hk.wait_for(lambda: self.last_hk is not current)
        assert self.last_hk is not None
        return self.last_hk

    async def within(self, awaitable: Awaitable[T], bus_seconds: float) -> T:
        """Await something, giving up (BusTimeout) once bus time has advanced ``bus_seconds``."""
        deadline = self.announced + bus_seconds
        task = asyncio.ensure_future(awaitable)

        async def expiry() -> None:
            async with self._clock:
                await self._clock.wait_for(lambda: self.announced >= deadline)

        timer = asyncio.ensure_future(expiry())
        done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            timer.cancel()
            return task.result()
        task.cancel()
        raise BusTimeout(f"not within {bus_seconds:g} bus seconds")
