"""The space link's loopback, as both ends of it use it: an idle packet (APID 0x7FF, CCSDS
133.0-B-2) sent down the space link to a ground station started with ``--echo-idle`` comes back
up once the station has taken in everything sent before it, so a sender knows that all of it
has been answered (docs/icd.md section 11). The HIL bench's lockstep uses it; any link tester
may."""

from __future__ import annotations

IDLE_APID = 0x7FF
IDLE_HEADER = IDLE_APID.to_bytes(2, "big")  # an idle telemetry packet's first octets


def is_idle(packet: bytes) -> bool:
    """The packet is an idle packet."""
    return packet[:2] == IDLE_HEADER


def is_loopback(data: bytes) -> bool:
    """``data`` begins with a loopback packet (not just any idle packet, such as idle fill)."""
    return data[:2] == IDLE_HEADER and data[6:10] == b"LOOP"


def loopback_packet(number: int) -> bytes:
    """Idle packet number ``number`` (0..16383 in its sequence count), its data ``LOOP`` and the
    number, so that an echo names the packet it answers."""
    data = b"LOOP" + number.to_bytes(4, "big")
    return (
        IDLE_HEADER
        + bytes((0xC0 | (number >> 8) & 0x3F, number & 0xFF))
        + (len(data) - 1).to_bytes(2, "big")
        + data
    )
