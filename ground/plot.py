"""Plots of archived telemetry (``python -m ground plot CHANNEL --from T --to T --out FILE.png``):
one channel against on-board time (UTC), with its yellow and red limits drawn, read from the
station's archive. Samples that are not valid (the GPU off) are no points: the line breaks and
the span is shaded "not valid"; an enum channel is drawn as steps with its names on the axis."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flight import dictionary as d
from flight.protocol.fields import NUMERIC_TYPES, Field
from ground.archive import Archive, ArchiveError


class PlotError(ValueError):
    """The plot cannot be made; the message says why in one line."""


def resolve(channel: str) -> tuple[d.TelemetryPacket, Field]:
    """The packet kind and field of ``PACKET.FIELD`` or a housekeeping field's name."""
    packet_name, _, field_name = channel.rpartition(".")
    kind = d.TELEMETRY_BY_NAME.get(packet_name or "HOUSEKEEPING")
    if kind is None:
        raise PlotError(f"no telemetry packet {packet_name!r}")
    f = next((f for f in kind.fields if f.name == field_name), None)
    if f is None:
        raise PlotError(f"{kind.name} has no channel {field_name!r}")
    if f.type not in NUMERIC_TYPES:
        raise PlotError(f"{kind.name}.{f.name} is not a number ({f.type})")
    return kind, f


def plot_channel(
    archive_spec: str | Path,
    channel: str,
    start: float | None,
    end: float | None,
    out: Path,
    spacecraft: int | None = None,
) -> dict[str, Any]:
    """Plot a channel from the archive ``archive_spec`` names (of one spacecraft, if given) to
    ``out`` (PNG); a summary of what was plotted. PlotError for an unknown channel, an empty
    range or an archive that cannot be read."""
    kind, f = resolve(channel)
    try:
        archive = Archive(archive_spec, create=False)
    except ArchiveError as exc:
        raise PlotError(str(exc)) from None
    try:
        packets = archive.packets(start, end, spacecraft=spacecraft, name=kind.name)
    finally:
        archive.close()
    times, values = [], []
    for packet in packets:
        tm = packet.decoded()
        if tm is not None and tm.name == kind.name:
            times.append(datetime.fromtimestamp(tm.packet.time, UTC))
            values.append(tm.values[f.name])
    if not values:
        raise PlotError(f"no {kind.name}.{f.name} in the archive in that time range")
    valid = [v for v in values if v is not None]
    _draw(kind, f, times, values, out)
    return {
        "channel": f"{kind.name}.{f.name}",
        "points": len(valid),
        "not_valid": len(values) - len(valid),
        "min": min(valid, default=None),
        "max": max(valid, default=None),
        "from": times[0].isoformat(),
        "to": times[-1].isoformat(),
        "out": str(out),
    }


def _draw(
    kind: d.TelemetryPacket, f: Field, times: list[datetime], values: list[Any], out: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    series = [math.nan if v is None else v for v in values]
    ax.plot(times, series, linewidth=1, label=f.name, drawstyle="steps-post" if f.enum else None)
    for start, end in _invalid_spans(times, values):
        ax.axvspan(start, end, color="0.85", lw=0, label="not valid")
    if f.enum:
        ax.set_yticks(sorted(f.enum), [f.enum[k] for k in sorted(f.enum)])
    limits = f.limits
    if limits is not None:
        for value, colour, name in (
            (limits.yellow_low, "goldenrod", "yellow limit"),
            (limits.yellow_high, "goldenrod", "yellow limit"),
            (limits.red_low, "red", "red limit"),
            (limits.red_high, "red", "red limit"),
        ):
            if value is not None:
                ax.axhline(value, color=colour, linestyle="--", linewidth=1, label=name)
    ax.set_title(f"{kind.name}.{f.name}: {f.description}")
    ax.set_xlabel("on-board time (UTC)")
    ax.set_ylabel(f.unit or f.name)
    ax.grid(True, alpha=0.3)
    if all(v is None for v in values):
        ax.text(0.5, 0.5, "not valid throughout", transform=ax.transAxes, ha="center")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="best")
    try:
        fig.savefig(out, dpi=100)
    except OSError as exc:
        raise PlotError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        plt.close(fig)


def _invalid_spans(times: list[datetime], values: list[Any]) -> list[tuple[datetime, datetime]]:
    """The spans of time whose samples are not valid (to the next sample)."""
    spans: list[tuple[datetime, datetime]] = []
    start = None
    for i, value in enumerate(values):
        if value is None and start is None:
            start = times[i]
        elif value is not None and start is not None:
            spans.append((start, times[i]))
            start = None
    if start is not None:
        spans.append((start, times[-1]))
    return spans
