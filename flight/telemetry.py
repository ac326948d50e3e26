"""The payload's telemetry output: PUS-C packets with their counters, framed onto the bus link.

Owns the packet sequence count of the payload APID and the PUS message type counters, and
counts what it sends and what it has to drop when the bus does not read. Frames go out through
the line's transmitter (flight/serial_tx.py): file PDUs after everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flight import dictionary as d
from flight.protocol.framing import frame
from flight.protocol.messages import encode_event, encode_telemetry
from flight.protocol.packets import build_tm
from flight.serial_tx import ByteSink, SerialTransmitter

_BULK = d.TELEMETRY_BY_NAME["CFDP_PDU"]  # file traffic: after everything else


class TelemetryWriter:
    """Builds telemetry packets and writes them as frames."""

    def __init__(self, sink: ByteSink, apid: int = d.APID_PAYLOAD) -> None:
        self.tx = SerialTransmitter(sink)
        self.apid = apid
        self.sent = 0
        self._seq = 0
        self._msg_counters: dict[tuple[int, int], int] = {}
        self.tap: Callable[[int, bytes], None] | None = None
        """Called with the service and the octets of every packet sent (the downlink's
        recorder)."""

    def start_line(self) -> None:
        """A lone delimiter, before anything else a run sends: a frame that a run before cut
        short (killed, reset, powered off mid-frame) ends here, as a damaged frame, instead of
        taking this run's first frame down with it. An empty frame is idle fill to the receiver
        (docs/icd.md, section 2)."""
        self.tx.send(b"\x00")

    def send(
        self,
        name: str,
        values: dict[str, Any],
        *,
        time: float,
        synced: bool,
        dest_id: int = d.SOURCE_GROUND,
    ) -> None:
        """Send the telemetry packet ``name`` of the dictionary."""
        kind, data = encode_telemetry(name, values)
        self._write(kind, data, time, synced, dest_id)

    def send_event(self, name: str, values: dict[str, Any], *, time: float, synced: bool) -> None:
        """Send the event ``name`` as a PUS 5 report of its severity."""
        kind, data = encode_event(name, values)
        self._write(kind, data, time, synced, d.SOURCE_GROUND)

    def _write(
        self, kind: d.TelemetryPacket, data: bytes, time: float, synced: bool, dest_id: int
    ) -> None:
        key = (kind.service, kind.subtype)
        counter = self._msg_counters.get(key, 0)
        self._msg_counters[key] = (counter + 1) & 0xFFFF
        packet = build_tm(
            self.apid,
            self._seq,
            kind.service,
            kind.subtype,
            data,
            msg_counter=counter,
            dest_id=dest_id,
            time=time,
            time_synced=synced,
        )
        self._seq = (self._seq + 1) & 0x3FFF
        if not self.tx.send(frame(packet), bulk=kind is _BULK):
            return
        self.sent += 1
        if self.tap is not None:
            self.tap(kind.service, packet)

    @property
    def dropped(self) -> int:
        """Packets the line could not take (counted since the last reset)."""
        return self.tx.dropped

    def reset_dropped(self) -> None:
        """RESET_COUNTERS: count drops from zero again."""
        self.tx.dropped = 0
