"""OUT/fleet.html: a fleet run's report for people, with plots (matplotlib PNGs beside it) of
every satellite's ground track with its contacts, the laser-link topology over time, each
satellite's battery and power allowance, each satellite's jobs, and each job's result latency to
the ground; a table of the topology's changes and each satellite's verdict, with a link to its
own report."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from flight.protocol.messages import DecodedTelemetry  # noqa: E402
from hil.environment import Environment  # noqa: E402
from hil.models.isl import Topology  # noqa: E402
from hil.report import Report  # noqa: E402
from hil.report_html import TimeAxis  # noqa: E402

TRACK_STEP_S = 20  # the ground tracks' sampling
CHANGES_LISTED = 200  # the most topology changes the page's table lists (all: topology.json)
PLOTS = ("groundtrack", "links", "power", "jobs", "latency")
REPORT_FILES = ("fleet.html", *(f"fleet-{plot}.png" for plot in PLOTS))  # what it writes


@dataclass
class FleetMemberRun:
    """What the fleet report takes of one satellite's run."""

    name: str
    environment: Environment
    events: list[DecodedTelemetry]
    report: Report
    results: dict[str, tuple[float, float]]  # job -> completed at (bus time), latency to ground


def _ground_tracks(members: list[FleetMemberRun], seconds: int) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(10, 5), layout="constrained")
    ax.set_title("ground tracks (thick: in contact with a station)", loc="left", fontsize=10)
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.grid(alpha=0.3)
    for i, member in enumerate(members):
        track = member.environment.track
        lat, lon = track.ground_track()
        step = slice(0, seconds, TRACK_STEP_S)
        lat, lon, contact = lat[step], lon[step], member.environment.links[step]
        colour = f"C{i % 10}"
        ax.scatter(lon, lat, s=1, color=colour, label=member.name)
        if member.environment.config.stations:
            ax.scatter(lon[contact], lat[contact], s=9, color=colour)
    stations = members[0].environment.config.stations if members else ()
    for station in stations:
        lon = station.lon_deg - 360 if station.lon_deg > 180 else station.lon_deg
        ax.plot(lon, station.lat_deg, "k^", ms=8)
        ax.annotate(station.name, (lon, station.lat_deg), xytext=(4, 4),
                    textcoords="offset points", fontsize=8)  # fmt: skip
    ax.legend(loc="lower left", fontsize=7, ncol=min(8, max(1, len(members))), markerscale=6)
    return fig


def _links(topology: Topology, time: TimeAxis) -> plt.Figure:
    pairs = sorted(topology.intervals)
    fig, (count, rows) = plt.subplots(
        2, 1, figsize=(10, 2.4 + 0.22 * max(4, len(pairs))), layout="constrained",
        height_ratios=[1, max(2, len(pairs) / 6)], sharex=True,
    )  # fmt: skip
    counts = topology.link_counts()[: time.seconds]
    count.step(time.of(np.arange(len(counts))), counts, where="post", color="tab:blue")
    count.set_title(
        f"laser links up ({len(topology.changes)} topology changes)", loc="left", fontsize=10
    )
    count.set_ylabel("links")
    count.grid(alpha=0.3)
    for row, pair in enumerate(pairs):
        spans = [(time.of(s), time.of(e - s)) for s, e in topology.intervals[pair]]
        rows.broken_barh(spans, (row - 0.4, 0.8), color=f"C{row % 10}")
    rows.set_yticks(range(len(pairs)))
    rows.set_yticklabels([f"{topology.names[i]}-{topology.names[j]}" for i, j in pairs], fontsize=7)
    rows.set_xlabel(f"bus time since start ({time.unit})")
    rows.set_xlim(0, time.of(time.seconds))
    rows.grid(alpha=0.3, axis="x")
    return fig


def _power(members: list[FleetMemberRun], time: TimeAxis) -> plt.Figure:
    fig, (soc, allowance) = plt.subplots(2, 1, figsize=(10, 5), layout="constrained", sharex=True)
    soc.set_title("battery state of charge and the payload's power allowance", loc="left",
                  fontsize=10)  # fmt: skip
    for i, member in enumerate(members):
        t = time.of(np.arange(time.seconds))
        env = member.environment
        soc.plot(t, env.soc[: time.seconds], color=f"C{i % 10}", lw=0.8, label=member.name)
        allowance.plot(t, env.allowance[: time.seconds], color=f"C{i % 10}", lw=0.6)
    soc.set_ylabel("state of charge")
    allowance.set_ylabel("allowance (W)")
    allowance.set_xlabel(f"bus time since start ({time.unit})")
    allowance.set_xlim(0, time.of(time.seconds))
    soc.legend(fontsize=7, ncol=min(8, max(1, len(members))))
    for ax in (soc, allowance):
        ax.grid(alpha=0.3)
    return fig


def _jobs(members: list[FleetMemberRun], time: TimeAxis, start: float) -> plt.Figure:
    fig, ax = time.axes("jobs completed on each satellite", "jobs")
    for i, member in enumerate(members):
        done = sorted(
            e.packet.time - start for e in member.events if e.name == "JOB_COMPLETED"
        )  # fmt: skip
        ax.step(time.of([0, *done, time.seconds]), [0, *range(1, len(done) + 1), len(done)],
                where="post", color=f"C{i % 10}", label=f"{member.name} ({len(done)})")  # fmt: skip
    ax.legend(fontsize=7, ncol=min(8, max(1, len(members))))
    return fig


def _latency(members: list[FleetMemberRun], time: TimeAxis, start: float) -> plt.Figure:
    fig, ax = time.axes("result latency to the ground: from JOB_COMPLETED on board to the "
                        "station", "latency (s)")  # fmt: skip
    for i, member in enumerate(members):
        done = sorted(member.results.values())
        ax.plot(time.of([t - start for t, _ in done]), [latency for _, latency in done], "o",
                ms=3, color=f"C{i % 10}", label=f"{member.name} ({len(done)})")  # fmt: skip
    ax.legend(fontsize=7, ncol=min(8, max(1, len(members))))
    return fig


def write_fleet_html(
    out: Path,
    title: str,
    members: list[FleetMemberRun],
    topology: Topology | None,
    seconds: int,
    start: float,
) -> Path:
    """Write OUT/fleet.html and its plots; returns the page's path."""
    seconds = max(1, min([seconds, *(m.environment.seconds for m in members)]))
    time = TimeAxis(seconds)
    figures = {"groundtrack": _ground_tracks(members, seconds)}
    if topology is not None:
        figures["links"] = _links(topology, time)
    figures["power"] = _power(members, time)
    figures["jobs"] = _jobs(members, time, start)
    figures["latency"] = _latency(members, time, start)
    images = []
    for name, fig in figures.items():
        path = out / f"fleet-{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        images.append(path.name)
    verdicts = "".join(
        f'<tr><td><a href="{html.escape(m.name)}/report.html">{html.escape(m.name)}</a></td>'
        f"<td>{'PASS' if m.report.passed else 'FAIL'}</td>"
        f"<td>{html.escape(m.report.error or '')}</td></tr>"
        for m in members
    )
    changes = ""
    if topology is not None:
        changes = "".join(
            f"<tr><td>{c.t_s}</td><td>{'up' if c.up else 'down'}</td><td>{html.escape(c.a)}</td>"
            f"<td>{html.escape(c.b)}</td><td>{c.range_km:.0f}</td></tr>"
            for c in topology.changes[:CHANGES_LISTED]
        )
        more = len(topology.changes) - CHANGES_LISTED
        changes = (
            f"<h2>Topology changes ({len(topology.changes)})</h2><table><tr><th>bus s</th>"
            f"<th></th><th>a</th><th>b</th><th>range km</th></tr>{changes}</table>"
            + (f"<p>and {more} more: topology.json</p>" if more > 0 else "")
        )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>HIL fleet {html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} td,th{{padding:2px 8px}}
table{{border-collapse:collapse}} tr:nth-child(even){{background:#f4f4f4}}</style></head><body>
<h1>HIL fleet {html.escape(title)}: {len(members)} satellites</h1>
<h2>Satellites</h2><table>{verdicts}</table>
<h2>Plots</h2>{"".join(f'<p><img src="{img}" alt="{img}"></p>' for img in images)}
{changes}
<p>Full record: fleet.json, topology.json, and each satellite's directory.</p></body></html>
"""
    path = out / "fleet.html"
    path.write_text(page)
    return path
