"""The parameter tables and their fields: each field's type, unit and the range a file must keep
to, in one place. The dictionary takes the tables' names from here (a housekeeping CRC field for
each); each table names the collaborator it sets, whose ``configure`` the controller hands it.

A new table is its declaration here and its shipped file (shipped/NAME.toml); the commands,
its housekeeping CRC and its ICD entry follow from them."""

from __future__ import annotations

from dataclasses import dataclass

from flight.protocol.fields import Field


@dataclass(frozen=True)
class TableSpec:
    """One table: its name, what it is for, its fields, and the controller's collaborator it
    sets (an attribute of flight/board.py's Board whose ``configure`` takes the table's values)."""

    name: str
    description: str
    fields: tuple[Field, ...]
    sets: str


TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "governor",
        "The power and thermal governor's tuning (docs/governor.md).",
        (
            Field("overhead_w", "f64", "W", "the payload computer's own draw", 0, 500),
            Field("gpu_idle_w", "f64", "W", "what a powered, idle GPU draws", 0, 500),
            Field("hysteresis_w", "f64", "W", "the limit rises only this far below target", 0, 200),
            Field(
                "resume_margin_w", "f64", "W", "budget above the minimum limit to resume", 0, 200
            ),
            Field("thermal_margin_c", "f64", "degC", "kept below the slowdown threshold", 0, 40),
            Field(
                "thermal_resistance_c_per_w",
                "f64",
                "degC/W",
                "GPU to radiator sink, the design figure",
                0.001,
                10,
            ),
            Field("thermal_gain_w_per_c", "f64", "W/degC", "limit off per degree over", 0.1, 1000),
            Field(
                "checkpoint_lead_s",
                "f64",
                "s",
                "asked before an eclipse beyond a job's cost",
                0,
                600,
            ),
        ),
        sets="governor",
    ),
    TableSpec(
        "downlink",
        "The payload's CFDP downlink on the bus link (docs/downlink.md).",
        (
            Field("rate_bps", "f64", "bit/s", "the payload's share of the downlink", 1000, 1e9),
            Field("segment_size", "u16", "octets", "file data per PDU (new transfers)", 64, 65000),
            Field(
                "max_tries",
                "u8",
                description="times a file is sent before it is given up",
                minimum=1,
                maximum=20,
            ),
        ),
        sets="downlink",
    ),
    TableSpec(
        "safe_mode",
        "When repeated faults put the payload in safe mode (docs/icd.md section 14).",
        (
            Field(
                "threshold",
                "u8",
                description="faults within the window for safe mode",
                minimum=1,
                maximum=100,
            ),
            Field("window_s", "f64", "s", "the window faults are counted in", 60, 604_800),
        ),
        sets="safe",
    ),
)

TABLES_BY_NAME = {t.name: t for t in TABLES}
TABLE_NAMES = tuple(t.name for t in TABLES)
