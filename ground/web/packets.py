"""Telemetry as the web page takes it: one JSON map per packet, whatever its kind.

    {"name": NAME, "t": on-board time (ms since 1970, UTC), "ert": ground receipt time (ms),
     "dest": the packet's destination (256: the ground, 1: the bus),
     "v": {field: value}, "names": {enum field: its value's name},
     "event": {"severity": N, "text": "..."} for events}

Values keep their numbers (enums too, named in "names"); octets go as hex, a value that was not
measured as null.
"""

from __future__ import annotations

from typing import Any

from flight.protocol.messages import DecodedTelemetry


def packet_json(tm: DecodedTelemetry, ert: float) -> dict[str, Any]:
    """One decoded packet for the page; ``ert`` in seconds since 1970."""
    out: dict[str, Any] = {
        "name": tm.name,
        "t": round(tm.packet.time * 1000, 3),
        "dest": tm.packet.dest_id,
        "ert": round(ert * 1000, 3),
        "v": {k: plain(v) for k, v in tm.values.items()},
        "names": {
            f.name: f.enum.get(tm.values[f.name], str(tm.values[f.name]))
            for f in tm.fields
            if f.enum and f.name in tm.values
        },
    }
    if tm.event is not None:
        text = " ".join(f"{k}={v}" for k, v in tm.labelled().items())
        out["event"] = {"severity": int(tm.event.severity), "text": text}
    return out


def plain(value: Any) -> Any:
    """A decoded value as JSON has it."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
