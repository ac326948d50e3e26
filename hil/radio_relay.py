"""The spacecraft's radio between the bus and the ground station: the station's space link is a
TCP connection to it. Telemetry goes down only in link windows when the scenario says so, through
the radio's rate, delay and losses (hil/radio.py); telecommands for the payload come up the same
way, anything else is dropped. File traffic is followed each way with what became of it
(hil/cfdp_figures.py). In lockstep the relay waits, after a second that carried file traffic, for
the station's loopback (flight/protocol/loopback.py), so the station's answers are on the line
before the next tick."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import replace

from flight import dictionary as d
from flight.protocol.fields import FieldError
from flight.protocol.framing import Deframer, frame, read_frames
from flight.protocol.loopback import is_idle, loopback_packet
from flight.protocol.messages import DecodedTelemetry, decode_command
from flight.protocol.packets import PacketError, parse_packet
from flight.security.tc_auth import TRAILER_LEN
from hil.cfdp_figures import ARRIVED, LINE_DAMAGE, NO_WINDOW, RADIO_LOSS, CfdpTrack
from hil.radio import RadioConfig, RadioPath

SYNC_TIMEOUT_S = 2.0
_CFDP_TC = d.COMMANDS_BY_NAME["CFDP_PDU"]


class RadioRelay:
    """The spacecraft end of the space link. ``to_payload`` puts a telecommand on the serial
    line (whether it passed undamaged); ``forwarding`` says whether the bus forwards at all (not
    while it restarts); ``now`` is bus time; ``uplinked`` is told of each telecommand taken in."""

    def __init__(
        self,
        config: RadioConfig,
        seed: int,
        relay_windows: bool,
        window_open: bool,
        to_payload: Callable[[bytes], bool],
        forwarding: Callable[[], bool],
        now: Callable[[], float],
        uplinked: Callable[[], None],
    ) -> None:
        self.config = config
        rng = random.Random(seed ^ 0x5AD10)
        self.down = RadioPath(config, config.rate_bps, rng)
        self.up = RadioPath(config, None, rng)
        self.relay_windows = relay_windows  # relay telemetry only while a window is open
        self.window_open = window_open  # as the last tick told the payload
        self.to_payload = to_payload
        self.forwarding = forwarding
        self.now = now
        self.uplinked = uplinked
        self.cfdp = CfdpTrack()  # the file traffic each way, its retransmissions and causes
        self.tm_no_window = 0  # telemetry not relayed: no link window
        self.tc_dropped = 0
        self.sync_station = False  # lockstep: the station answers each second before the next
        self.syncs_missed = 0
        self._syncs = 0
        self._sync_frame = b""
        self._synced = asyncio.Event()
        self.relayed_pdus = False  # CFDP PDUs relayed since the last sync
        self._station: asyncio.StreamWriter | None = None
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        """Listen for the ground station's space link."""
        self._server = await asyncio.start_server(self._space_link, "127.0.0.1", 0)

    @property
    def port(self) -> int:
        """The TCP port the ground station connects its space link to."""
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._station is not None:
            self._station.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # --- down
    def downlink(self, tm: DecodedTelemetry, raw: bytes) -> None:
        """A telemetry packet from the payload, relayed as the window and the radio allow."""
        fate = ARRIVED
        if self.relay_windows and not self.window_open:
            self.tm_no_window += 1  # no station in view: the payload's recording has it
            fate = NO_WINDOW
        elif not self.config.immediate:
            fate = ARRIVED if self.down.admit(frame(raw), self.now()) else RADIO_LOSS
        else:
            self._to_station(frame(raw))
            self.relayed_pdus |= tm.name == "CFDP_PDU"
        if tm.name == "CFDP_PDU":
            self.cfdp.down(tm.values["pdu"], fate)

    def _to_station(self, data: bytes) -> None:
        if self._station is not None and not self._station.is_closing():
            self._station.write(data)

    # --- up
    async def _space_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._station is not None:
            self._station.close()
        self._station = writer
        try:
            async for raw in read_frames(reader, Deframer()):
                if is_idle(raw):
                    if raw == self._sync_frame:
                        self._synced.set()
                elif not self.forwarding():
                    self.tc_dropped += 1  # the bus is restarting: nothing is forwarded
                elif len(raw) >= 6 and int.from_bytes(raw[:2], "big") & 0x7FF == d.APID_PAYLOAD:
                    self._from_station(raw)
                else:
                    self.tc_dropped += 1
        except (OSError, asyncio.CancelledError):
            pass  # the station went away, or the bench is shutting the link down
        finally:
            if self._station is writer:
                self._station = None
            writer.close()

    def _from_station(self, raw: bytes) -> None:
        if self.config.immediate:
            self._relay_up(raw)
            return
        if not self.up.admit(raw, self.now()):
            self._follow_up(raw, RADIO_LOSS)
        self.uplinked()

    def _relay_up(self, packet: bytes) -> None:
        """A ground telecommand out of the radio, onto the serial line (its file traffic
        followed)."""
        intact = self.to_payload(packet)
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

    # --- each second
    def second(self, now: float) -> None:
        """What the radio's delay lets through this second, each way."""
        for raw in self.up.due(now):
            self._relay_up(raw)
        for data in self.down.due(now):
            self._to_station(data)

    async def sync(self) -> None:
        """In lockstep, after a second that relayed CFDP PDUs: let the station take them in and
        answer (ACK, NAK, Finished) before the next tick, so every run of a seed is the same.
        The station loops an idle packet back after all that came before it; what it sent up
        before the echo is on the serial line ahead of the next tick. (A station's own uploads
        are not paced by this: their timing in lockstep follows the station's speed.)"""
        self.relayed_pdus = False
        if self._station is None or self._station.is_closing():
            return
        self._syncs += 1
        self._sync_frame = loopback_packet(self._syncs)
        self._synced.clear()
        self._station.write(frame(self._sync_frame))
        try:
            await asyncio.wait_for(self._synced.wait(), SYNC_TIMEOUT_S)
        except TimeoutError:
            self.syncs_missed += 1
