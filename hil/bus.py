"""The emulated spacecraft bus: the payload's only clock, its power source and its radio.

It sends a BUS_TICK telecommand every bus second (time and power allowance), forwards ground
telecommands for the payload's APID from the radio link to the serial link, passes the payload's
telemetry down to the radio, and records every packet that crosses the serial link.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Awaitable, TypeVar

from flight import dictionary as d
from flight.protocol.fields import FieldError
from flight.protocol.framing import Deframer, frame
from flight.protocol.messages import DecodedTelemetry, decode_telemetry, encode_command
from flight.protocol.packets import PacketError, Telemetry, build_tc, parse_packet
from ground.messages import read_frames
from hil.environment import Environment, TickEnvironment

T = TypeVar("T")
ANSWER_TIMEOUT_S = 10.0  # wall seconds a lockstep tick waits for its housekeeping


class BusTimeout(Exception):
    """A bench-time deadline passed."""


class BusEmulator:
    """The bus side of one serial link and the spacecraft end of the radio link."""

    def __init__(self, fd: int, *, start_time: float, environment: Environment) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self.time = start_time
        self.start_time = start_time
        self.environment = environment
        self.last_environment: TickEnvironment | None = None
        self.deframer = Deframer()
        self.tm_log = bytearray()
        self.tc_log = bytearray()
        self.tm_packets = 0
        self.tc_packets = 0
        self.tm_bad = 0
        self.tc_dropped = 0
        self.ticks = 0
        self.ticks_unanswered = 0
        self.last_hk: DecodedTelemetry | None = None
        self.events: list[DecodedTelemetry] = []
        self.listeners: list[Callable[[DecodedTelemetry], None]] = []  # called for every packet
        self.lockstep = False
        self._running = asyncio.Event()
        self._running.set()
        self._seq = 0
        self._out = bytearray()
        self._radio: asyncio.StreamWriter | None = None
        self._server: asyncio.base_events.Server | None = None
        self._clock = asyncio.Condition()
        self._hk = asyncio.Condition()

    # --- set-up
    async def start(self) -> None:
        """Start reading the serial link and listening for the ground station's radio link."""
        asyncio.get_running_loop().add_reader(self.fd, self._on_readable)
        self._server = await asyncio.start_server(self._radio_link, "127.0.0.1", 0)

    @property
    def radio_port(self) -> int:
        """The TCP port the ground station connects its space link to."""
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving both links."""
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.fd)
        loop.remove_writer(self.fd)
        if self._radio is not None:
            self._radio.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # --- serial link
    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            asyncio.get_running_loop().remove_reader(self.fd)
            return
        for raw in self.deframer.feed(data):
            self._from_payload(raw)

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
        for listener in self.listeners:
            listener(tm)
        if self._radio is not None and not self._radio.is_closing():
            self._radio.write(frame(raw))
        if tm.name == "HOUSEKEEPING":
            self.last_hk = tm
            asyncio.get_running_loop().create_task(self._notify(self._hk))

    @staticmethod
    async def _notify(condition: asyncio.Condition) -> None:
        async with condition:
            condition.notify_all()

    def send_to_payload(self, packet: bytes) -> None:
        """Send one telecommand packet on the serial link, recording it."""
        self.tc_log += packet
        self.tc_packets += 1
        self.write_line(frame(packet))

    def write_line(self, data: bytes) -> None:
        """Put raw bytes on the serial line (fault injection uses this directly)."""
        self._out += data
        self._flush()

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            written = os.write(self.fd, self._out)
            del self._out[:written]
        except BlockingIOError:
            pass
        if self._out:
            loop.add_writer(self.fd, self._flush)
        else:
            loop.remove_writer(self.fd)

    # --- radio link
    async def _radio_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._radio is not None:
            self._radio.close()
        self._radio = writer
        try:
            async for raw in read_frames(reader, Deframer()):
                if len(raw) >= 6 and int.from_bytes(raw[:2], "big") & 0x7FF == d.APID_PAYLOAD:
                    self.send_to_payload(raw)
                else:
                    self.tc_dropped += 1
        except (OSError, asyncio.CancelledError):
            pass  # the station went away, or the bench is shutting the link down
        finally:
            if self._radio is writer:
                self._radio = None
            writer.close()

    # --- time
    def tick(self) -> None:
        """Advance bus time one second and send the tick with the environment of that second."""
        env = self.environment.tick(self.ticks)
        self.last_environment = env
        self.time += 1.0
        self.ticks += 1
        args = {"time": self.time} | asdict(env)
        args["sunlit"] = int(env.sunlit)
        command, data = encode_command("BUS_TICK", args)
        self.send_to_payload(
            build_tc(
                d.APID_PAYLOAD,
                self._seq,
                command.service,
                command.subtype,
                data,
                source_id=d.SOURCE_BUS,
                ack_flags=0,
            )
        )
        self._seq = (self._seq + 1) & 0x3FFF

    async def run_clock(self, speed: float | None) -> None:
        """Tick forever: ``speed`` bus seconds per wall second, or lockstep when None (each tick
        waits for the housekeeping that answers it)."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        self.lockstep = speed is None
        while True:
            await self._running.wait()
            self.tick()
            await self._notify(self._clock)
            if speed is None:
                try:
                    await asyncio.wait_for(self._answered(self.time), ANSWER_TIMEOUT_S)
                except TimeoutError:
                    self.ticks_unanswered += 1
            else:
                await asyncio.sleep(max(0.0, t0 + self.ticks / speed - loop.time()))

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """In lockstep, stop bus time while the body runs (a command in flight lands on the same
        bus second in every run); in real time, time goes on as on a real bus."""
        if not self.lockstep:
            yield
            return
        self._running.clear()
        try:
            yield
        finally:
            self._running.set()

    async def until(self, bus_time: float) -> None:
        """Wait until bus time reaches ``bus_time``."""
        async with self._clock:
            await self._clock.wait_for(lambda: self.time >= bus_time)

    async def _answered(self, bus_time: float) -> None:
        async with self._hk:
            await self._hk.wait_for(
                lambda: self.last_hk is not None and self.last_hk.packet.time >= bus_time
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
        deadline = self.time + bus_seconds
        task = asyncio.ensure_future(awaitable)

        async def expiry() -> None:
            async with self._clock:
                await self._clock.wait_for(lambda: self.time >= deadline)

        timer = asyncio.ensure_future(expiry())
        done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            timer.cancel()
            return task.result()
        task.cancel()
        raise BusTimeout(f"not within {bus_seconds:g} bus seconds")
