"""The bus's end of the serial line: every telecommand it sends and every telemetry packet the
payload sends recorded (tc.bin, tm.bin), the payload's frames decoded, the events kept, and the
housekeeping that answers each tick waited on. What the bus does with a packet is the bus's
(hil/bus.py); byte-level faults are the line's (hil/serial_line.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from flight import dictionary as d
from flight.protocol.fields import FieldError
from flight.protocol.framing import Deframer, frame
from flight.protocol.messages import DecodedTelemetry, decode_telemetry
from flight.protocol.packets import PacketError, Telemetry, parse_packet
from hil.serial_line import Direction, SerialLine


def damage(direction: Direction) -> int:
    """What the line has done to a direction so far (bits flipped, faults injected)."""
    return direction.bits_flipped + direction.faults_injected


class SerialEndpoint:
    """One serial line to the payload; ``deliver`` takes each telemetry packet that decodes."""

    def __init__(
        self,
        fd: int,
        deliver: Callable[[DecodedTelemetry, bytes], None],
        *,
        baud: int | None,
        seed: int,
        speed: float,
    ) -> None:
        self.line = SerialLine(fd, self._from_line, baud=baud, seed=seed, speed=speed)
        self.deliver = deliver
        self.deframer = Deframer()
        self.tm_log = bytearray()
        self.tc_log = bytearray()
        self.tm_packets = 0
        self.tc_packets = 0
        self.tm_bad = 0
        self.events: list[DecodedTelemetry] = []
        self.last_hk: DecodedTelemetry | None = None
        self._hk = asyncio.Condition()

    @property
    def damaged_frames(self) -> int:
        """Frames from the payload that arrived unusable."""
        return self.deframer.frames_bad + self.tm_bad

    def send(self, packet: bytes) -> bool:
        """Send one telecommand packet, recording it; whether the line passed it undamaged."""
        self.tc_log += packet
        self.tc_packets += 1
        before = damage(self.line.up)
        self.line.write(frame(packet))
        return damage(self.line.up) == before and not self.line.outage

    def write_line(self, data: bytes) -> None:
        """Put raw bytes on the line (fault injection uses this directly)."""
        self.line.write(data)

    def _from_line(self, data: bytes) -> None:
        damaged = self.damaged_frames
        for raw in self.deframer.feed(data):
            self._from_payload(raw)
        if self.damaged_frames != damaged:  # the answer to a tick may be the one lost
            asyncio.get_running_loop().create_task(self._notify())

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
        self.deliver(tm, raw)
        if tm.name == "HOUSEKEEPING":
            self.last_hk = tm
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._hk:
            self._hk.notify_all()

    async def answered(self, bus_time: float, damaged: int) -> None:
        """The housekeeping of ``bus_time`` arrived, or a frame from the payload arrived damaged
        since there were ``damaged`` (the answer may be the one lost)."""
        async with self._hk:
            await self._hk.wait_for(
                lambda: (
                    (self.last_hk is not None and self.last_hk.packet.time >= bus_time)
                    or self.damaged_frames != damaged
                )
            )

    async def next_housekeeping(self) -> DecodedTelemetry:
        """The next housekeeping report."""
        current = self.last_hk
        async with self._hk:
            await self._hk.wait_for(lambda: self.last_hk is not current)
        assert self.last_hk is not None
        return self.last_hk
