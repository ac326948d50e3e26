"""report.html's plots for people: a time axis that reads well for the run's length, jobs by
series when there are many, with a legend, enum values by name, limits inside the axes."""

import numpy as np
import pytest

from flight.protocol.messages import decode_telemetry
from flight.protocol.packets import parse_packet
from hil import report_html
from hil.gpu_figures import GpuTrack
from tests.ground.test_archive import T0, tm


@pytest.mark.parametrize(
    "seconds, unit, end", [(5, "s", 5), (599, "s", 599), (1500, "min", 25), (86_400, "h", 24)]
)
def test_the_time_axis_is_in_seconds_minutes_or_hours_by_the_runs_length(seconds, unit, end):
    time = report_html.TimeAxis(seconds)
    fig, ax = time.axes("t", "")
    assert ax.get_xlabel() == f"bus time since start ({unit})"
    assert ax.get_xlim() == (0, end)


def job_events(count: int) -> list:
    events = []
    for i in range(count):
        series = "batch" if i % 3 else "train"
        job = {"job_id": f"{series}-{i:04d}"}
        start = tm("JOB_STARTED", job | {"pid": 100 + i}, 2 * i, T0 + 100 * i, event=True)
        end = tm("JOB_COMPLETED", job | {"runtime_s": 50.0}, 2 * i + 1, T0 + 100 * i + 50, True)
        events += [decode_telemetry(parse_packet(raw)) for raw in (start, end)]
    return events


def test_many_jobs_are_drawn_one_row_per_series_with_a_legend():
    fig = report_html._jobs(report_html.TimeAxis(3600), job_events(28), T0)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["train", "batch"]
    assert ax.get_title(loc="left") == "Jobs: 28 in 2 series"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["completed"]
    few = report_html._jobs(report_html.TimeAxis(3600), job_events(3), T0).axes[0]
    assert [t.get_text() for t in few.get_yticklabels()] == [
        "train-0000",
        "batch-0001",
        "batch-0002",
    ]


def test_the_governor_mode_is_named_and_the_slowdown_line_is_inside_the_axes():
    gpu = GpuTrack(T0, times=[0.0, 1.0, 2.0], temp_c=[-50.0, np.nan, -40.0])
    gpu.slowdown_c, gpu.governor_mode = 87.0, [1, 5, 1]
    track = report_html.TimeAxis(3)
    env = type("Env", (), {"track": type("T", (), {"sunlit": np.ones(3, bool)})()})()
    ax = report_html._gpu_temperature(env, track, gpu).axes[0]
    low, high = ax.get_ylim()
    assert low <= -50.0 and high >= 87.0  # the limit line is drawn where it can be seen
    ax = report_html._governor(track, gpu).axes[0]
    assert "SAFE" in [t.get_text() for t in ax.get_yticklabels()]
