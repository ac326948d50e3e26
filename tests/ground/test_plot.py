"""``python -m ground plot``: a channel from a real archive to a PNG, and one-line errors."""

import json
import struct
import subprocess
import sys

import pytest

from flight.spacelink.profile import DEFAULT_SCID
from ground.archive import Archive
from tests.ground.test_archive import T0, hk, tm


def ground(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "ground", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def state(tmp_path):
    archive = Archive(tmp_path / "archive.sqlite")
    for i in range(120):
        gpu_off = 40 <= i < 50  # ten seconds with the GPU switched off: not valid
        values = hk(uptime_s=i, gpu_temp_c=60.0 + i / 4, gpu_valid=int(not gpu_off))
        values["governor_mode"] = 5 if gpu_off else 1
        archive.packet(DEFAULT_SCID, tm("HOUSEKEEPING", values, i, T0 + i), T0 + i)
    archive.close()
    return tmp_path


def test_a_channel_over_a_time_range_to_png(state):
    out = state / "temp.png"
    run = ground(
        "plot",
        "gpu_temp_c",
        "--state",
        ".",
        "--from",
        "2026-03-20T00:00:10Z",
        "--to",
        "2026-03-20T00:01:10Z",
        "--out",
        "temp.png",
        "--json",
        cwd=state,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["channel"] == "HOUSEKEEPING.gpu_temp_c"
    assert summary["points"] == 50 and summary["not_valid"] == 10  # seconds 10 to 69
    assert summary["min"] == 62.5 and summary["max"] == 77.25  # no 0 for the GPU off
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1000, 400)


def test_an_enum_channel_is_drawn_as_steps_with_its_names(state):
    run = ground("plot", "governor_mode", "--state", ".", "--out", "mode.png", cwd=state)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("120 points of HOUSEKEEPING.governor_mode (1 to 5)")
    run = ground("plot", "gpu_temp_c", "--state", ".", "--from", "2026-03-20T00:00:41Z",
                 "--to", "2026-03-20T00:00:48Z", "--out", "off.png", cwd=state)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "(not valid throughout, 7 not valid)" in run.stdout  # --to is exclusive


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "HOUSEKEEPING has no channel 'nope'"),
        (["FOO.bar"], "no telemetry packet 'FOO'"),
        (
            ["HOUSEKEEPING.gpu_temp_c", "--from", "2030-01-01T00:00:00Z"],
            "no HOUSEKEEPING.gpu_temp_c",
        ),
        (["JOB_LIST.jobs"], "JOB_LIST.jobs is not a number (msgpack)"),
        (["uptime_s", "--state", "elsewhere"], "no archive at elsewhere/archive.sqlite"),
        (["uptime_s", "--from", "yesterday"], "not a time"),
    ],
)
def test_mistakes_are_one_line(state, args, message):
    argv = ["plot", *args, "--out", "x.png"]
    if "--state" not in args:
        argv += ["--state", "."]
    run = ground(*argv, cwd=state)
    assert run.returncode == 2
    assert message in run.stderr.strip().splitlines()[-1]  # after argparse's usage, if any
    assert "Traceback" not in run.stderr
