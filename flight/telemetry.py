"""The payload's telemetry output: PUS-C packets with their counters, framed onto the bus link.

Owns the packet sequence count of the payload APID and the PUS message type counters, and
counts what it sends and what it has to drop when the bus does not read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import serial

from flight import dictionary as d
from flight.protocol.framing import frame
from flight.protocol.messages import encode_event, encode_telemetry
from flight.protocol.packets import build_tm


class ByteSink(Protocol):
    """Where frames go: a serial port, or anything with write()."""

    def write(self, data: bytes) -> int | None: ...


class TelemetryWriter:
    """Builds telemetry packets and writes them as frames."""

    def __init__(self, sink: ByteSink, apid: int = d.APID_PAYLOAD) -> None:
        self.sink = sink
        self.apid = apid
        self.sent = 0
        self.dropped = 0
        self._seq = 0
        self._msg_counters: dict[tuple[int, int], int] = {}
        self.tap: Callable[[int, bytes], None] | None = None
        """Called with the service and the octets of every packet sent (the downlink's
        recorder)."""

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
        try:
            self.sink.write(frame(packet))
        except serial.SerialTimeoutException:
            self.dropped += 1
            return
        self.sent += 1
        if self.tap is not None:
            self.tap(kind.service, packet)
