"""The single dictionary of the payload: APIDs, telecommands, telemetry, events and failure codes.

Flight, the HIL bench and the ground system all load this package; nothing is defined twice.
docs/icd.md renders it (``python -m flight icd``), and a test keeps the two the same. The entries
are declared in base.py (the vocabulary), commands.py, telemetry.py and events.py.
"""

from __future__ import annotations

from flight.dictionary.base import (
    DICTIONARY_VERSION,
    MAX_PACKET_LEN,
    MAX_MANIFEST_OCTETS,
    APID_PAYLOAD,
    APIDS,
    SOURCE_BUS,
    SOURCE_GROUND,
    SOURCES,
    ACK_ACCEPTANCE,
    ACK_START,
    ACK_PROGRESS,
    ACK_COMPLETION,
    ACK_GROUND_DEFAULT,
    FailureCode,
    FAILURE_DESCRIPTIONS,
    Command,
    TelemetryPacket,
    Severity,
    Event,
    JobState,
    FINAL_STATES,
    JOB_STATE_NAMES,
    GovernorMode,
    GpuPower,
    GpuControl,
    GOVERNOR_MODE_NAMES,
    GPU_POWER_NAMES,
    GPU_CONTROL_NAMES,
    NONE_AHEAD,
)
from flight.dictionary.commands import (
    COMMANDS,
)
from flight.dictionary.telemetry import (
    HK_SID,
    HK_FIELDS,
    TELEMETRY,
)
from flight.dictionary.events import (
    EVENTS,
    EVENT_HEADER,
)

# --- Lookups
COMMANDS_BY_NAME = {c.name: c for c in COMMANDS}
COMMANDS_BY_TYPE = {(c.service, c.subtype): c for c in COMMANDS}
TELEMETRY_BY_NAME = {t.name: t for t in TELEMETRY}
TELEMETRY_BY_TYPE = {(t.service, t.subtype): t for t in TELEMETRY}
EVENTS_BY_NAME = {e.name: e for e in EVENTS}
EVENTS_BY_ID = {e.event_id: e for e in EVENTS}
SERVICES = frozenset(c.service for c in COMMANDS)


def _check_unique() -> None:
    for what, items, key in (
        ("command", COMMANDS, lambda c: (c.service, c.subtype)),
        ("telemetry", TELEMETRY, lambda t: (t.service, t.subtype)),
        ("event", EVENTS, lambda e: e.event_id),
    ):
        keys = [key(i) for i in items]
        if len(keys) != len(set(keys)):
            raise RuntimeError(f"dictionary: duplicate {what} identifiers")


_check_unique()


def _check_validity() -> None:
    """Every valid_when names a u8 flag of the same structure."""
    structures = [c.args for c in COMMANDS] + [t.fields for t in TELEMETRY]
    structures += [e.args for e in EVENTS]
    for fields in structures:
        flags = {f.name for f in fields if f.type == "u8"}
        for f in fields:
            if f.valid_when is not None and f.valid_when not in flags:
                raise RuntimeError(f"dictionary: {f.name} is valid when {f.valid_when}, not a flag")


_check_validity()

__all__ = [
    "DICTIONARY_VERSION",
    "MAX_PACKET_LEN",
    "MAX_MANIFEST_OCTETS",
    "APID_PAYLOAD",
    "APIDS",
    "SOURCE_BUS",
    "SOURCE_GROUND",
    "SOURCES",
    "ACK_ACCEPTANCE",
    "ACK_START",
    "ACK_PROGRESS",
    "ACK_COMPLETION",
    "ACK_GROUND_DEFAULT",
    "FailureCode",
    "FAILURE_DESCRIPTIONS",
    "Command",
    "TelemetryPacket",
    "Severity",
    "Event",
    "JobState",
    "FINAL_STATES",
    "JOB_STATE_NAMES",
    "GovernorMode",
    "GpuPower",
    "GpuControl",
    "GOVERNOR_MODE_NAMES",
    "GPU_POWER_NAMES",
    "GPU_CONTROL_NAMES",
    "NONE_AHEAD",
    "COMMANDS",
    "HK_SID",
    "HK_FIELDS",
    "TELEMETRY",
    "EVENTS",
    "EVENT_HEADER",
    "COMMANDS_BY_NAME",
    "COMMANDS_BY_TYPE",
    "TELEMETRY_BY_NAME",
    "TELEMETRY_BY_TYPE",
    "EVENTS_BY_NAME",
    "EVENTS_BY_ID",
    "SERVICES",
]
