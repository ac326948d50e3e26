"""DIR/report.html: the report for people, with plots (matplotlib PNGs beside it) of the power
allowance, the battery, temperatures, the governor's mode, eclipse and link windows, and the job
timeline, and the file traffic's retransmissions per link.

The time axis is in seconds, minutes or hours by the run's length; a value that was not valid
(the GPU off) is a gap; limit lines are always inside the axes; enum values are drawn as steps
with their names; more jobs than fit one row each are drawn one row per series, coloured by how
each run ended, with a legend."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from flight.dictionary import GOVERNOR_MODE_NAMES  # noqa: E402
from flight.protocol.messages import DecodedTelemetry  # noqa: E402
from hil.cfdp_figures import CAUSES  # noqa: E402
from hil.environment import Environment  # noqa: E402
from hil.gpu_figures import GpuTrack  # noqa: E402
from hil.models.orbit import windows  # noqa: E402
from hil.report import Report  # noqa: E402

JOB_ENDS = {
    "JOB_COMPLETED": ("tab:green", "completed"),
    "JOB_FAILED": ("tab:red", "failed"),
    "JOB_TIMED_OUT": ("tab:orange", "timed out"),
    "JOB_CANCELLED": ("0.5", "cancelled"),
    "JOB_SUSPENDED": ("tab:blue", "ran, then suspended"),
    "JOB_REQUEUED": ("tab:purple", "ran, then requeued"),
}
JOB_ROWS_MAX = 12  # more jobs than this: one row per series (train-0001 -> train)


class TimeAxis:
    """The time axis of a run: seconds, minutes or hours, whichever reads best for its length."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        if seconds < 600:
            self.scale, self.unit = 1, "s"
        elif seconds < 3 * 3600:
            self.scale, self.unit = 60, "min"
        else:
            self.scale, self.unit = 3600, "h"

    def of(self, seconds: Any) -> Any:
        return np.asarray(seconds) / self.scale

    def axes(self, title: str, ylabel: str, rows: int = 0):
        height = 2.6 if rows <= 4 else min(9.0, 1.2 + 0.28 * rows)
        fig, ax = plt.subplots(figsize=(10, height), layout="constrained")
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(f"bus time since start ({self.unit})")
        ax.set_xlim(0, self.of(self.seconds))
        ax.grid(alpha=0.3)
        return fig, ax


def _shade_eclipses(ax, env: Environment, time: TimeAxis) -> None:
    for start, end in windows(~env.track.sunlit[: time.seconds]):
        ax.axvspan(time.of(start), time.of(end), color="0.85", lw=0)


def _with_limits(ax, values: Any, *limits: float) -> None:
    """Y limits that hold the data and every limit line drawn, with a margin."""
    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    points = np.concatenate([data, np.asarray(limits, dtype=float)])
    if points.size:
        low, high = float(points.min()), float(points.max())
        margin = max(1.0, 0.05 * (high - low))
        ax.set_ylim(low - margin, high + margin)


def _power(env: Environment, time: TimeAxis, gpu: GpuTrack | None) -> plt.Figure:
    drawn = ["payload power allowance"]
    has_gpu = gpu is not None and gpu.times
    if has_gpu:
        drawn += ["GPU power limit", "GPU power"]
    fig, ax = time.axes(", ".join(drawn) + " (eclipses shaded)", "W")
    _shade_eclipses(ax, env, time)
    ax.plot(time.of(np.arange(time.seconds)), env.allowance[: time.seconds], lw=0.8,
            label="allowance")  # fmt: skip
    if has_gpu:
        t = time.of(gpu.times)
        ax.plot(t, gpu.limit_w, lw=0.8, color="tab:red", label="GPU power limit")
        ax.plot(t, gpu.power_w, lw=0.6, color="tab:green", alpha=0.8, label="GPU power")
        if any(np.isnan(gpu.power_w)):
            ax.plot([], [], " ", label="gaps: GPU off (not valid)")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def _gpu_temperature(env: Environment, time: TimeAxis, gpu: GpuTrack) -> plt.Figure:
    known = gpu.slowdown_c > 0
    title = "GPU temperature" + (" and its slowdown threshold" if known else "")
    fig, ax = time.axes(title + " (gaps: GPU off, not valid)", "C")
    _shade_eclipses(ax, env, time)
    ax.plot(time.of(gpu.times), gpu.temp_c, lw=0.8, color="tab:orange", label="GPU")
    if known:
        ax.axhline(gpu.slowdown_c, color="tab:red", ls="--", lw=0.8, label="slowdown")
    _with_limits(ax, gpu.temp_c, *([gpu.slowdown_c] if known else []))
    ax.legend(loc="upper right", fontsize=8)
    return fig


def _windows(env: Environment, time: TimeAxis) -> plt.Figure:
    rows = [("eclipse", ~env.track.sunlit[: time.seconds], "0.4")]
    rows += [(name, mask[: time.seconds], "tab:blue") for name, mask in env.track.visible.items()]
    if not env.track.visible:  # no ground stations in the scenario: the link is always up
        rows.append(("link (always up)", np.ones(time.seconds, bool), "tab:blue"))
    fig, ax = time.axes("Eclipses and link windows (stations in view)", "", len(rows))
    seen = 0
    for y, (_, mask, color) in enumerate(rows):
        spans = [(time.of(s), time.of(e - s)) for s, e in windows(mask)]
        seen += len(spans)
        ax.broken_barh(spans, (y - 0.35, 0.7), color=color)
    ax.set_yticks(range(len(rows)), [name for name, _, _ in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    if not seen:
        ax.text(0.5, 0.5, "no eclipse and no station in view during this run",
                transform=ax.transAxes, ha="center", va="center")  # fmt: skip
    return fig


def _series(job: str) -> str:
    """A workload's name from its job's id (batch-0012 -> batch)."""
    head, sep, tail = job.rpartition("-")
    return head if sep and tail.isdigit() else job


def _jobs(time: TimeAxis, events: list[DecodedTelemetry], start: float) -> plt.Figure:
    runs: list[tuple[str, float, float, str]] = []  # job, from, to, how it ended
    started: dict[str, float] = {}
    for tm in events:
        job = tm.values.get("job_id")
        t = tm.packet.time - start
        if tm.name == "JOB_STARTED":
            started[job] = t
        elif tm.name in JOB_ENDS and job in started:
            runs.append((job, started.pop(job), t, tm.name))
    jobs = list(dict.fromkeys(job for job, *_ in runs))
    grouped = len(jobs) > JOB_ROWS_MAX
    rows = list(dict.fromkeys(_series(j) for j in jobs)) if grouped else jobs
    title = f"Jobs: {len(jobs)}" + (f" in {len(rows)} series" if grouped else "")
    fig, ax = time.axes(title, "", len(rows))
    for job, begin, end, how in runs:
        row = rows.index(_series(job) if grouped else job)
        ax.broken_barh([(time.of(begin), max(time.of(end - begin), time.of(1)))],
                       (row - 0.35, 0.7), color=JOB_ENDS[how][0])  # fmt: skip
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(-0.6, max(len(rows), 1) - 0.4)
    endings = dict.fromkeys(how for *_, how in runs)
    for how in endings:
        ax.broken_barh([], (0, 0), color=JOB_ENDS[how][0], label=JOB_ENDS[how][1])
    if endings:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    else:
        ax.text(0.5, 0.5, "no job ran", transform=ax.transAxes, ha="center", va="center")
    return fig


def _governor(time: TimeAxis, gpu: GpuTrack) -> plt.Figure:
    names = dict(GOVERNOR_MODE_NAMES)
    fig, ax = time.axes("Governor mode", "", len(names))
    ax.plot(time.of(gpu.times), gpu.governor_mode, drawstyle="steps-post", lw=1.0)
    ax.set_yticks(sorted(names), [names[k] for k in sorted(names)])
    ax.set_ylim(min(names) - 0.5, max(names) + 0.5)
    return fig


def _plots(
    env: Environment,
    seconds: int,
    events: list[DecodedTelemetry],
    start: float,
    gpu: GpuTrack | None,
) -> dict[str, plt.Figure]:
    time = TimeAxis(seconds)
    hours = time.of(np.arange(seconds))
    figs = {"power": _power(env, time, gpu)}
    if gpu is not None and gpu.times:
        figs["gpu-temperature"] = _gpu_temperature(env, time, gpu)
        figs["governor"] = _governor(time, gpu)
    fig, ax = time.axes("Battery state of charge", "fraction")
    _shade_eclipses(ax, env, time)
    ax.plot(hours, env.soc[:seconds], lw=0.8)
    ax.axhline(env.config.power.floor, color="tab:red", ls="--", lw=0.8, label="floor")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right", fontsize=8)
    figs["battery"] = fig
    fig, ax = time.axes("Radiator sink temperature", "C")
    _shade_eclipses(ax, env, time)
    ax.plot(hours, env.sink_c[:seconds], lw=0.8, color="tab:purple")
    figs["temperature"] = fig
    figs["windows"] = _windows(env, time)
    figs["jobs"] = _jobs(time, events, start)
    return figs


def _ended_early(report: Report) -> str:
    if report.ended_early is None:
        return ""
    ran, whole = report.ended_early
    return (
        f"<p>Ended early (--until) at bus second {ran:g} of {whole:g}: checks waiting for what "
        "had not happened yet are NOT REACHED.</p>"
    )


def _cfdp_table(cfdp: dict[str, Any]) -> str:
    """PDUs each way per link, those sent again and why (hil/cfdp_figures.py)."""
    head = "<tr><th>link</th><th>way</th><th>PDUs</th><th>retransmitted</th><th>octets again</th>"
    head += "".join(f"<th>{c}</th>" for c in CAUSES) + "</tr>"
    rows = "".join(
        f"<tr><td>{html.escape(link)}</td><td>{way}</td><td>{f['pdus']}</td>"
        f"<td>{f['retransmitted']}</td><td>{f['octets_retransmitted']}</td>"
        + "".join(f"<td>{f['causes'][c]}</td>" for c in CAUSES)
        + "</tr>"
        for link, ways in cfdp.items()
        for way, f in ways.items()
    )
    return f"<table>{head}{rows}</table>"


def write_html(
    report: Report,
    env: Environment,
    seconds: int,
    events: list[DecodedTelemetry],
    out_dir: Path,
    gpu: GpuTrack | None = None,
) -> Path:
    """Write report.html and its plots into out_dir; returns the page's path."""
    seconds = max(1, min(seconds, env.seconds))
    images = []
    for name, fig in _plots(env, seconds, events, report.bus_start, gpu).items():
        path = out_dir / f"report-{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        images.append(path.name)
    doc = report.to_json()
    rows = "".join(
        f"<tr class={c.outcome.lower().replace(' ', '-')}><td>{c.outcome}"
        f"</td><td>{html.escape(c.name)}</td><td>{html.escape(str(c.detail))}</td>"
        f"<td>{c.bus_time}</td></tr>"
        for c in report.checks
    )
    figures = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in doc["figures"].items()
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>HIL {html.escape(report.scenario)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} td{{padding:2px 8px}}
.pass td:first-child{{color:#197a19}} .fail td:first-child{{color:#b00;font-weight:bold}}
.not-reached td:first-child{{color:#777}}
table{{border-collapse:collapse}} tr:nth-child(even){{background:#f4f4f4}}</style></head><body>
<h1>HIL scenario {html.escape(report.scenario)}: {doc["result"].upper()}</h1>
<p>{html.escape(report.mode)}, seed {report.seed}, bus start {doc["bus_start"]}
{"<br><b>error:</b> " + html.escape(report.error) if report.error else ""}</p>
{_ended_early(report)}<h2>Checks</h2><table>{rows}</table>
<h2>File traffic (CFDP) per link</h2>{_cfdp_table(report.cfdp)}
<h2>Plots</h2>{"".join(f'<p><img src="{img}" alt="{img}"></p>' for img in images)}
<h2>Figures</h2><table>{figures}</table>
<p>Full record: report.json; packets: tm.bin, tc.bin.</p></body></html>
"""
    out = out_dir / "report.html"
    out.write_text(page)
    return out
