"""The Python decoders' fuzz targets: each takes any bytes and may only end in its decoder's own
error, never in anything else (an uncaught exception is a finding). ``fuzz/run.py`` drives them
with atheris; ``tests/test_fuzz_targets.py`` runs each on its corpus."""

from __future__ import annotations

from collections.abc import Callable

import msgpack

from flight.cfdp.pdu import PduError, decode
from flight.jobs.manifest import ManifestError, parse_manifest
from flight.protocol.fields import FieldError
from flight.protocol.framing import Deframer
from flight.protocol.messages import decode_command, decode_telemetry
from flight.protocol.packets import PacketError, Telecommand, parse_packet


def cobs(data: bytes) -> None:
    """The deframer, fed the bytes in two pieces split where the first byte says."""
    deframer = Deframer()
    cut = data[0] if data else 0
    for payload in deframer.feed(data[:cut]) + deframer.feed(data[cut:]):
        assert isinstance(payload, bytes)


def packets(data: bytes) -> None:
    """A space packet, then its PUS meaning: a command's arguments or telemetry's fields (the bus
    protocol is these: BUS_TICK and GPU_POWER_STATE down the serial line, telemetry up)."""
    try:
        packet = parse_packet(data)
    except PacketError:
        return
    try:
        if isinstance(packet, Telecommand):
            decode_command(packet)
        else:
            decode_telemetry(packet)
    except (PacketError, FieldError):
        return


def cfdp(data: bytes) -> None:
    """A CFDP PDU."""
    try:
        decode(data)
    except PduError:
        return


def manifest(data: bytes) -> None:
    """A job manifest as it arrives in SUBMIT_JOB: a msgpack document, then its validation."""
    try:
        document = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception:  # msgpack raises several unrelated types on bad input
        return
    try:
        parse_manifest(document)
    except ManifestError:
        return


TARGETS: dict[str, Callable[[bytes], None]] = {
    "cobs": cobs,
    "packets": packets,
    "cfdp": cfdp,
    "manifest": manifest,
}
