"""The Open MCT object tree, generated from the flight dictionary (the single dictionary): a folder
per telemetry packet with a telemetry point per field (its unit, type, enumeration and limits),
the event log, and the mission-control views the project adds (commanding, jobs, files, alarms,
replay, pass planning, the fleet).

Every point's datum is {"t": on-board time, "ert": ground receipt time, "value": ...}, both
times in ms UTC: the on-board time is the domain Open MCT plots and queries by, the receipt time
a second domain, each labelled as what it is.
"""

from __future__ import annotations

from typing import Any

from flight import dictionary as d
from flight.protocol.fields import NUMERIC_TYPES, Field

NAMESPACE = "payload"
ROOT = "root"
EVENTS = "events"
VIEWS = {
    "timeline": ("payload.timeline", "Pass planning", "coming contacts and eclipses, past ones"),
    "replay": ("payload.replay", "Replay", "an archived interval replayed: pause, seek, speed"),
    "alarms": ("payload.alarms", "Alarms", "values beyond their limits, until acknowledged"),
    "files": ("payload.files", "Files", "files down from the payload and whether each verified"),
    "jobs": ("payload.jobs", "Jobs", "the payload's jobs: submit, cancel, reprioritise, follow"),
    "fleet": ("payload.fleet", "Fleet", "every spacecraft, and the fleet job broker's jobs"),
    "commanding": ("payload.commanding", "Commanding", "commands, their verification, history"),
}
_TIMES = [
    {"key": "utc", "source": "t", "name": "On-board time (UTC)", "format": "utc",
     "hints": {"domain": 1}},
    {"key": "ert", "source": "ert", "name": "Ground receipt time (UTC)", "format": "utc",
     "hints": {"domain": 2}},
]  # fmt: skip


def identifier(key: str) -> dict[str, str]:
    return {"namespace": NAMESPACE, "key": key}


def _value_metadata(f: Field) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "key": "value",
        "source": "value",
        "name": f.name,
        "hints": {"range": 1},
    }
    if f.unit:
        meta["unit"] = f.unit
    if f.enum:
        meta["format"] = "enum"
        meta["enumerations"] = [{"value": v, "string": s} for v, s in sorted(f.enum.items())]
    elif f.type in NUMERIC_TYPES:
        meta["format"] = "float" if f.type.startswith("f") else "integer"
    else:
        meta["format"] = "string"
    return meta


def _limits(f: Field) -> dict[str, Any] | None:
    lim = f.limits
    if lim is None:
        return None
    return {
        "yellow": {"low": lim.yellow_low, "high": lim.yellow_high},
        "red": {"low": lim.red_low, "high": lim.red_high},
    }


def _point(packet: str, f: Field) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "identifier": identifier(f"{packet}.{f.name}"),
        "name": f.name,
        "type": "payload.telemetry",
        "location": f"{NAMESPACE}:{packet}",
        "notes": f.description,
        "telemetry": {"values": [*_TIMES, _value_metadata(f)]},
        "packet": packet,
        "field": f.name,
    }
    limits = _limits(f)
    if limits is not None:
        obj["limits"] = limits
    return obj


def object_tree() -> dict[str, dict[str, Any]]:
    """Every object of the tree by its key."""
    objects: dict[str, dict[str, Any]] = {}
    children = []
    for packet in d.TELEMETRY:
        points = [_point(packet.name, f) for f in packet.fields]
        for p in points:
            objects[p["identifier"]["key"]] = p
        objects[packet.name] = {
            "identifier": identifier(packet.name),
            "name": packet.name,
            "type": "payload.packet",
            "location": f"{NAMESPACE}:{ROOT}",
            "notes": packet.description,
            "composition": [p["identifier"] for p in points],
        }
        children.append(identifier(packet.name))
    severities = [{"value": int(s), "string": s.name} for s in d.Severity]
    objects[EVENTS] = {
        "identifier": identifier(EVENTS),
        "name": "Events",
        "type": "payload.events",
        "location": f"{NAMESPACE}:{ROOT}",
        "telemetry": {
            "values": [
                *_TIMES,
                {"key": "name", "source": "name", "name": "Event", "format": "string"},
                {"key": "severity", "source": "severity", "name": "Severity", "format": "enum",
                 "enumerations": severities, "filters": [{"singleSelectionThreshold": False,
                 "comparator": "equals", "possibleValues": severities}]},
                {"key": "text", "source": "text", "name": "Details", "format": "string"},
            ]
        },
    }  # fmt: skip
    children.insert(0, identifier(EVENTS))
    for key, (kind, name, notes) in VIEWS.items():
        objects[key] = {
            "identifier": identifier(key),
            "name": name,
            "type": kind,
            "location": f"{NAMESPACE}:{ROOT}",
            "notes": notes,
        }
        children.insert(0, identifier(key))
    objects[ROOT] = {
        "identifier": identifier(ROOT),
        "name": "Payload",
        "type": "folder",
        "location": "ROOT",
        "composition": children,
    }
    return objects
