"""DIR/report.html: the report for people, with plots (matplotlib PNGs beside it) of the power
allowance, the battery, temperatures, sun, eclipse and link windows, and the job timeline."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from flight.protocol.messages import DecodedTelemetry  # noqa: E402
from hil.environment import Environment  # noqa: E402
from hil.gpu_figures import GpuTrack  # noqa: E402
from hil.models.orbit import windows  # noqa: E402
from hil.report import Report  # noqa: E402

JOB_ENDS = {
    "JOB_COMPLETED": "tab:green",
    "JOB_FAILED": "tab:red",
    "JOB_TIMED_OUT": "tab:orange",
    "JOB_CANCELLED": "0.5",
    "JOB_SUSPENDED": "tab:blue",
    "JOB_REQUEUED": "tab:purple",
}


def _axes(title: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(10, 2.6), layout="constrained")
    ax.set_title(title, loc="left", fontsize=10)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("bus time since start (h)")
    ax.grid(alpha=0.3)
    return fig, ax


def _shade_eclipses(ax, env: Environment, seconds: int) -> None:
    for start, end in windows(~env.track.sunlit[:seconds]):
        ax.axvspan(start / 3600, end / 3600, color="0.85", lw=0)


def _plots(
    env: Environment,
    seconds: int,
    events: list[DecodedTelemetry],
    start: float,
    gpu: GpuTrack | None,
) -> dict[str, plt.Figure]:
    hours = np.arange(seconds) / 3600
    figs = {}
    fig, ax = _axes("Payload power allowance, GPU power limit and GPU power (eclipses shaded)", "W")
    _shade_eclipses(ax, env, seconds)
    ax.plot(hours, env.allowance[:seconds], lw=0.8, label="allowance")
    if gpu is not None and gpu.times:
        t = np.asarray(gpu.times) / 3600
        ax.plot(t, gpu.limit_w, lw=0.8, color="tab:red", label="GPU power limit")
        ax.plot(t, gpu.power_w, lw=0.6, color="tab:green", alpha=0.8, label="GPU power")
    ax.legend(loc="upper right", fontsize=8)
    figs["power"] = fig
    if gpu is not None and gpu.times:
        fig, ax = _axes("GPU temperature and its slowdown threshold", "C")
        _shade_eclipses(ax, env, seconds)
        ax.plot(np.asarray(gpu.times) / 3600, gpu.temp_c, lw=0.8, color="tab:orange")
        ax.axhline(gpu.slowdown_c, color="tab:red", ls="--", lw=0.8, label="slowdown")
        ax.legend(loc="upper right", fontsize=8)
        figs["gpu-temperature"] = fig
    fig, ax = _axes("Battery state of charge", "fraction")
    _shade_eclipses(ax, env, seconds)
    ax.plot(hours, env.soc[:seconds], lw=0.8)
    ax.axhline(env.config.power.floor, color="tab:red", ls="--", lw=0.8, label="floor")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right", fontsize=8)
    figs["battery"] = fig
    fig, ax = _axes("Radiator sink temperature", "C")
    _shade_eclipses(ax, env, seconds)
    ax.plot(hours, env.sink_c[:seconds], lw=0.8, color="tab:purple")
    figs["temperature"] = fig
    fig, ax = _axes("Sun, eclipse and link windows", "")
    rows = [("eclipse", ~env.track.sunlit[:seconds], "0.4")]
    rows += [(name, mask[:seconds], "tab:blue") for name, mask in env.track.visible.items()]
    for y, (_, mask, color) in enumerate(rows):
        spans = [(s / 3600, (e - s) / 3600) for s, e in windows(mask)]
        ax.broken_barh(spans, (y - 0.35, 0.7), color=color)
    ax.set_yticks(range(len(rows)), [name for name, _, _ in rows])
    ax.set_xlim(0, seconds / 3600)
    figs["windows"] = fig
    fig, ax = _axes("Jobs", "")
    started: dict[str, float] = {}
    names: list[str] = []
    for tm in events:
        job = tm.values.get("job_id")
        t = (tm.packet.time - start) / 3600
        if tm.name == "JOB_STARTED":
            started[job] = t
        elif tm.name in JOB_ENDS and job in started:
            if job not in names:
                names.append(job)
            ax.broken_barh(
                [(started[job], max(t - started[job], 1e-3))],
                (names.index(job) - 0.35, 0.7),
                color=JOB_ENDS[tm.name],
            )
    ax.set_yticks(range(len(names)), names)
    ax.set_xlim(0, seconds / 3600)
    figs["jobs"] = fig
    return figs


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
        f"<tr class={'pass' if c['passed'] else 'fail'}><td>{'PASS' if c['passed'] else 'FAIL'}"
        f"</td><td>{html.escape(c['name'])}</td><td>{html.escape(str(c['detail']))}</td>"
        f"<td>{c['bus_time']}</td></tr>"
        for c in doc["checks"]
    )
    figures = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in doc["figures"].items()
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>HIL {html.escape(report.scenario)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} td{{padding:2px 8px}}
.pass td:first-child{{color:#197a19}} .fail td:first-child{{color:#b00;font-weight:bold}}
table{{border-collapse:collapse}} tr:nth-child(even){{background:#f4f4f4}}</style></head><body>
<h1>HIL scenario {html.escape(report.scenario)}: {doc["result"].upper()}</h1>
<p>{html.escape(report.mode)}, seed {report.seed}, bus start {doc["bus_start"]}
{"<br><b>error:</b> " + html.escape(report.error) if report.error else ""}</p>
<h2>Checks</h2><table>{rows}</table>
<h2>Plots</h2>{"".join(f'<p><img src="{img}" alt="{img}"></p>' for img in images)}
<h2>Figures</h2><table>{figures}</table>
<p>Full record: report.json; packets: tm.bin, tc.bin.</p></body></html>
"""
    out = out_dir / "report.html"
    out.write_text(page)
    return out
