"""The spacecraft's radio between the bus and the ground station: the station's space link is a
TCP connection to it carrying USLP frames (hil/space_link.py, docs/icd.md section 18).
Telemetry goes down only in link windows when the scenario says so, in frames through the
radio's rate, delay and losses (hil/radio.py); frames come up the same way, and what they deliver
for the payload goes on to the serial line. File traffic is followed each way with what became
of it (hil/cfdp_figures.py). In lockstep the relay waits, after a second that carried file
traffic, for the station's loopback (flight/protocol/loopback.py), so the station's answers are
on the line before the next tick."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from flight import dictionary as d
from flight.protocol.fields import FieldError
from flight.protocol.loopback import is_idle, loopback_packet
from flight.protocol.messages import DecodedTelemetry, decode_command
from flight.protocol.packets import PacketError, parse_packet
from flight.security.tc_auth import TRAILER_LEN
from hil.cfdp_figures import ARRIVED, LINE_DAMAGE, NO_WINDOW, RADIO_LOSS, CfdpTrack
from hil.radio import RadioConfig, RadioPath
from hil.space_link import SpacecraftLink

SYNC_TIMEOUT_S = 2.0
READ_SIZE = 1 << 16
_CFDP_TC = d.COMMANDS_BY_NAME["CFDP_PDU"]


class _Spans:
    """The CFDP PDUs in one virtual channel's frames, by the frames they span, so each gets the
    fate of its frames: lost when any of them is."""

    def __init__(self) -> None:
        self.frames = 0  # frames of the channel put on the radio so far
        self.pending: deque[list] = deque()  # [pdu, last frame, lost]

    def add(self, pdu: bytes, last_frame: int) -> None:
        self.pending.append([pdu, last_frame, False])

    def fate(self, lost: bool, track: CfdpTrack) -> None:
        """The channel's next frame went out (or was lost)."""
        number = self.frames
        self.frames += 1
        while self.pending and self.pending[0][1] <= number:
            pdu, _, was_lost = self.pending.popleft()
            track.down(pdu, RADIO_LOSS if was_lost or lost else ARRIVED)
        for entry in self.pending:
            entry[2] |= lost


class RadioRelay:
    """The spacecraft end of the space link. ``to_payload`` puts a telecommand on the serial
    line (whether it passed undamaged); ``forwarding`` says whether the bus forwards at all (not
    while it restarts); ``now`` is bus time; ``uplinked`` is told of each frame taken in."""

    def __init__(
        self,
        config: RadioConfig,
        seed: int,
        relay_windows: bool,
        window_open: bool,
        link: SpacecraftLink,
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
        self.link = link
        self.to_payload = to_payload
        self.forwarding = forwarding
        self.now = now
        self.uplinked = uplinked
        self.cfdp = CfdpTrack()  # the file traffic each way, its retransmissions and causes
        self._spans: dict[int, _Spans] = {}
        self.tm_no_window = 0  # telemetry not relayed: no link window
        self.tc_dropped = 0
        self.sync_station = False  # lockstep: the station answers each second before the next
        self.sync_heard = False  # ... every second it heard (its fleet broker acts on telemetry)
        self.syncs_missed = 0
        self._syncs = 0
        self._sync_packet = b""
        self._synced = asyncio.Event()
        self.relayed_pdus = False  # CFDP PDUs relayed since the last sync
        self.relayed_tm = False  # any telemetry relayed since the last sync
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
        self.link.close()

    # --- down
    def downlink(self, tm: DecodedTelemetry, raw: bytes) -> None:
        """A telemetry packet from the payload, relayed as the window and the radio allow."""
        is_pdu = tm.name == "CFDP_PDU"
        if self.relay_windows and not self.window_open:
            self.tm_no_window += 1  # no station in view: the payload's recording has it
            if is_pdu:
                self.cfdp.down(tm.values["pdu"], NO_WINDOW)
            return
        self.relayed_tm = True
        vc = self.link.channel(tm)
        frames = self.link.down(raw, vc)
        if is_pdu:
            self.relayed_pdus = True
            spans = self._spans.setdefault(vc, _Spans())
            ends_in_a_frame_to_come = self.link.pending(vc)
            spans.add(tm.values["pdu"], spans.frames + len(frames) - (not ends_in_a_frame_to_come))
        self._radio(vc, frames)
        if self.config.immediate:
            self._flush()  # with nothing to pace, the rest of the packet goes at once

    def _flush(self, keepalive: bool = False) -> None:
        for vc, frame in self.link.flush(keepalive):
            self._radio(vc, [frame])

    def _radio(self, vc: int, frames: list[bytes]) -> None:
        """Frames of a virtual channel onto the radio, each arriving or lost."""
        spans = self._spans.get(vc)
        for frame in frames:
            cadu = self.link.cadu(frame)
            if self.config.immediate:
                self._to_station(cadu)
                arrived = True
            else:
                arrived = self.down.admit(cadu, self.now())
            if spans is not None:
                spans.fate(not arrived, self.cfdp)

    def _to_station(self, data: bytes) -> None:
        if self._station is not None and not self._station.is_closing():
            self._station.write(data)

    # --- up
    async def _space_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._station is not None:
            self._station.close()
        self._station = writer
        self._to_station(self.link.cadu(self.link.idle_frame()))  # the CLCW: COP-1 can begin
        try:
            while data := await reader.read(READ_SIZE):
                for frame in self.link.received(data):
                    self._from_station(frame)
        except (OSError, asyncio.CancelledError):
            pass  # the station went away, or the bench is shutting the link down
        finally:
            if self._station is writer:
                self._station = None
            writer.close()

    def _from_station(self, frame: bytes) -> None:
        if self.config.immediate:
            self._take(frame)
            return
        if not self.up.admit(frame, self.now()):
            self._follow_frame(frame, RADIO_LOSS)
        self.uplinked()

    def _take(self, frame: bytes) -> None:
        """A frame out of the radio: what it delivers, onto the serial line."""
        for up in self.link.take(frame, buffer_free=self.forwarding()):
            if not up.commands and is_idle(up.packet):
                if up.packet == self._sync_packet:
                    self._synced.set()
            elif not self.forwarding():
                self.tc_dropped += 1  # the bus is restarting: nothing is forwarded
            elif (
                len(up.packet) >= 6
                and int.from_bytes(up.packet[:2], "big") & 0x7FF == d.APID_PAYLOAD
            ):
                intact = self.to_payload(up.packet)
                self._follow_up(up.packet, ARRIVED if intact else LINE_DAMAGE)
            else:
                self.tc_dropped += 1

    def _follow_frame(self, frame: bytes, fate: str) -> None:
        """Note the CFDP PDU of an uplink frame with what became of it."""
        packet = self.link.packet_of(frame)
        if packet is not None:
            self._follow_up(packet, fate)

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
        """What the radio's delay lets through this second, each way; the frames begun this
        second completed and sent, the CLCW with them."""
        if self.forwarding():
            self.link.farm.buffer_released()
        for frame in self.up.due(now):
            self._take(frame)
        self._flush(keepalive=not self.relay_windows or self.window_open)  # no station: silence
        for data in self.down.due(now):
            self._to_station(data)

    def sync_due(self) -> bool:
        """Whether the station must answer this second before the next tick: it relayed CFDP
        PDUs, or (``sync_heard``, where the station's fleet job broker acts on what it hears)
        any telemetry."""
        return self.sync_station and (self.relayed_pdus or (self.sync_heard and self.relayed_tm))

    async def sync(self) -> None:
        """In lockstep, after a second that relayed CFDP PDUs (or any telemetry, with
        ``sync_heard``): let the station take them in and answer (ACK, NAK, Finished; the fleet
        broker's commands) before the next tick, so every run of a seed is the same. The frames
        begun go out, then a loopback packet in a frame of only idle data; the station sends it
        back once it has taken in all that came before it, and what it sent up before the echo
        is on the serial line ahead of the next tick. (A station's own uploads are not paced by
        this: their timing in lockstep follows the station's speed.)"""
        self.relayed_pdus = self.relayed_tm = False
        if self._station is None or self._station.is_closing():
            return
        self._flush()
        self._syncs += 1
        self._sync_packet = loopback_packet(self._syncs)
        self._synced.clear()
        self._to_station(self.link.cadu(self.link.idle_frame(self._sync_packet)))
        try:
            await asyncio.wait_for(self._synced.wait(), SYNC_TIMEOUT_S)
        except TimeoutError:
            self.syncs_missed += 1
