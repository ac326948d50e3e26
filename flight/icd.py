"""Renders the dictionary as the generated part of docs/icd.md (``python -m flight icd``)."""

from __future__ import annotations

from flight import dictionary as d
from flight.protocol.fields import TYPE_DESCRIPTIONS, Field, Limits

BEGIN = "<!-- BEGIN GENERATED: python -m flight icd -->"
END = "<!-- END GENERATED -->"


def _fields_table(fields: tuple[Field, ...]) -> list[str]:
    if not fields:
        return ["(no fields)", ""]
    limited = any(f.limits for f in fields)
    head = "| field | type | unit | range | " + ("limits (yellow; red) | " if limited else "")
    rows = [head + "description |", "| --- " * head.count("|") + "|"]
    for f in fields:
        if f.enum:
            span = ", ".join(f"{k}={v}" for k, v in sorted(f.enum.items()))
        elif f.minimum is not None or f.maximum is not None:
            span = f"{f.minimum}..{f.maximum}"
        else:
            span = ""
        limits = f"{_limits(f.limits)} | " if limited else ""
        about = f.description
        if f.valid_when is not None:
            about += f" (valid only when {f.valid_when} is 1; else {_placeholder(f)})"
        rows.append(f"| {f.name} | {f.type} | {f.unit} | {span} | {limits}{about} |")
    return rows + [""]


def _placeholder(f: Field) -> str:
    """What stands for a value that is not valid, in words."""
    return "NaN" if f.type in ("f32", "f64") else "0"


def _limits(limits: Limits | None) -> str:
    """A field's limits as the ICD shows them: ``< 0.3 or > 80; < 0.15``."""
    if limits is None:
        return ""

    def side(low: float | None, high: float | None) -> str:
        parts = ([f"< {low:g}"] if low is not None else []) + (
            [f"> {high:g}"] if high is not None else []
        )
        return " or ".join(parts) or "-"

    return f"{side(limits.yellow_low, limits.yellow_high)}; {side(limits.red_low, limits.red_high)}"


def render() -> str:
    """The dictionary as markdown, between the BEGIN and END markers."""
    out = [
        BEGIN,
        "",
        f"Dictionary version {d.DICTIONARY_VERSION}.",
        "",
        "### Field types",
        "",
        "| type | encoding |",
        "| --- | --- |",
    ]
    out += [f"| {name} | {desc} |" for name, desc in TYPE_DESCRIPTIONS.items()] + [""]
    out += ["### APIDs and sources", "", "| APID | name |", "| --- | --- |"]
    out += [f"| {apid:#05x} | {name} |" for apid, name in d.APIDS.items()] + [""]
    out += ["| source id | sender |", "| --- | --- |"]
    out += [f"| {sid:#06x} | {name} |" for sid, name in d.SOURCES.items()] + [""]
    out += ["### Telecommands", ""]
    for c in d.COMMANDS:
        flags = ["hazardous"] if c.hazardous else []
        out += [
            f"#### TC[{c.service},{c.subtype}] {c.name}",
            "",
            f"{c.description} Sent by {d.SOURCES[c.source]}. {' '.join(flags)}".rstrip(),
            "",
        ]
        out += _fields_table(c.args)
    out += [
        "### Telemetry",
        "",
        "Limits are the ground's checks of a value (the console's colours, the XTCE export's "
        "alarms): beyond a yellow limit is a warning, beyond a red one an alarm.",
        "",
    ]
    for t in d.TELEMETRY:
        out += [f"#### TM[{t.service},{t.subtype}] {t.name}", "", t.description, ""]
        if t.service == 5:
            out += ["Source data: event_id (u16), then the event's fields (see Events).", ""]
        else:
            out += _fields_table(t.fields)
    out += [
        "### Events",
        "",
        "Each is a TM[5,severity] report: event_id (u16), then its fields. A throttled event "
        "that repeats within its throttle of the last is counted, not sent; EVENT_REPEATED "
        "carries the count when it stops, and at most once a throttle while it goes on.",
        "",
    ]
    for e in d.EVENTS:
        throttle = f"throttled: {e.throttle_s} s" if e.throttle_s else "not throttled"
        out += [
            f"#### {e.event_id} {e.name} ({e.severity.name}, TM[5,{int(e.severity)}], {throttle})",
            "",
            e.description,
            "",
        ]
        out += _fields_table(e.args)
    out += ["### Failure codes", "", "| code | name | meaning |", "| --- | --- | --- |"]
    out += [f"| {int(c)} | {c.name} | {d.FAILURE_DESCRIPTIONS[c]} |" for c in d.FailureCode]
    out += ["", "### Job states", "", "| value | state |", "| --- | --- |"]
    out += [f"| {int(s)} | {s.name} |" for s in d.JobState]
    return "\n".join(out + ["", END])


def splice(document: str) -> str:
    """The document with its generated section replaced by the current render()."""
    start = document.index(BEGIN)
    end = document.index(END) + len(END)
    return document[:start] + render() + document[end:]
