"""Scenarios run end to end on the bench: real pty, controller and station processes."""

import asyncio
import json
import subprocess
import sys

import pytest

from hil.bench import run_bench
from hil.scenario import load_scenario, parse_scenario, shipped
from hil.scenario_run import bench_config, scenario_runner

SHORT = """
[scenario]
name = "short"
duration_s = 2500
seed = 7

[orbit]
beta_deg = 0

[power]
array_w = 900

[gpu]
corrected_ecc_per_hour = 50

[[workload]]
name = "sim"
start_s = 10
every_s = 300
count = 6
work_s = 100
expected_runtime_s = 200
deadline_s = 2000
checkpoint_interval_s = 60
checkpoint_cost_s = 5

[[timeline]]
at_s = 400
action = "fault"
fault = "gpu_ecc_uncorrected"

[[timeline]]
at_s = 1200
action = "fault"
fault = "gpu_lost"

[[timeline]]
at_s = 3
action = "command"
command = "PING"

[[timeline]]
at_s = 700
action = "command"
command = "SUBMIT_JOB"
args = { manifest = { id = "x", command = ["no-such-job"] } }
expect = "rejected"
failure = "EXECUTABLE_NOT_FOUND"

[[checks]]
kind = "hk_dips_to"
field = "sunlit"
value = 0

[[checks]]
kind = "event_count"
event = "TIME_SYNCHRONISED"
max = 1
"""


def run(text, out, seed=None, until_s=None):
    scenario = parse_scenario(text, "short.toml")
    config = bench_config(scenario, out, seed=seed, until_s=until_s)
    return asyncio.run(run_bench(scenario.name, scenario_runner(scenario, until_s), config))


def without_wall(doc):
    doc = dict(doc, figures={k: v for k, v in doc["figures"].items() if not k.startswith("wall")})
    return doc


def test_lockstep_run_is_deterministic_for_a_seed(tmp_path):
    first = run(SHORT, tmp_path / "a")
    second = run(SHORT, tmp_path / "b")
    assert first.passed, first.to_json()
    assert without_wall(first.to_json()) == without_wall(second.to_json())
    assert first.to_json()["seed"] == 7
    figures = first.to_json()["figures"]
    assert figures["workload_completed"] >= 1 and figures["gpu_power_cycles"] == 1
    assert (tmp_path / "a" / "tm.bin").read_bytes() == (tmp_path / "b" / "tm.bin").read_bytes()


def test_a_check_that_does_not_hold_fails_the_run(tmp_path):
    report = run(SHORT.replace("value = 0\n", "value = -1\n"), tmp_path)
    assert not report.passed
    assert [c.passed for c in report.checks if c.name.startswith("housekeeping sunlit")] == [False]


def test_an_unexpected_verification_fails_its_step(tmp_path):
    report = run(
        SHORT.replace('failure = "EXECUTABLE_NOT_FOUND"', 'failure = "QUEUE_FULL"'), tmp_path
    )
    step = [c for c in report.checks if c.name.startswith("t=700 s")][0]
    assert not step.passed and "EXECUTABLE_NOT_FOUND" in step.detail


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.stem)
def test_shipped_scenario_passes(tmp_path, path):
    """Every shipped scenario passes; a constellation's (its satellites' day is bench/fleet.py's
    to run whole) its first two hours, every satellite judged on what ran."""
    scenario = load_scenario(str(path))
    until = ["--until", "2h"] if scenario.constellation else []
    proc = subprocess.run(
        [sys.executable, "-m", "hil", "run", str(path), "--out", "out", *until],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp_path / "out"
    names = [s.name for s in scenario.constellation]
    if names:
        assert json.loads((out / "fleet.json").read_text())["passed"]
    for report_file in [out / name / "report.json" for name in names] or [out / "report.json"]:
        report = json.loads(report_file.read_text())
        assert report["result"] == "pass"
        speed = scenario.speed
        assert report["mode"] == ("lockstep" if speed is None else f"real time x{speed:g}")


def test_cli_names_the_broken_file_and_line(tmp_path):
    (tmp_path / "bad.toml").write_text(SHORT.replace("beta_deg = 0", "beta_deg = 95"))
    proc = subprocess.run(
        [sys.executable, "-m", "hil", "run", "bad.toml", "--out", "o"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("hil: bad.toml:8: orbit.beta_deg: a number from -90 to 90")


UNTIL = """
[scenario]
name = "until"
duration_s = 600

[[timeline]]
at_s = 50
action = "command"
command = "PING"

[[timeline]]
at_s = 500
action = "command"
command = "SUBMIT_JOB"
args = { manifest = { id = "x", command = ["no-such-job"] } }
expect = "rejected"
failure = "EXECUTABLE_NOT_FOUND"

[[checks]]
kind = "event_count"
event = "TIME_SYNCHRONISED"
min = 1
max = 1

[[checks]]
kind = "hk_max"
field = "tm_dropped"
value = 0

[[checks]]
kind = "figure_min"
figure = "ticks"
value = 600

[[checks]]
kind = "hk_peaks_at"
field = "uptime_s"
value = 550

[[checks]]
kind = "hk_max"
field = "uptime_s"
value = LIMIT
"""


def test_a_run_ended_early_is_judged_on_what_ran(tmp_path):
    """--until: the timeline up to that bus second; never-type checks judged; the checks waiting
    for what had not happened yet are not reached (neither passed nor failed)."""
    report = run(UNTIL.replace("LIMIT", "1000"), tmp_path / "a", until_s=150)
    outcome = {c.name: c.outcome for c in report.checks}
    assert report.passed, report.to_json()
    assert report.ended_early == (150, 600)
    assert report.figures["ticks"] == 150
    assert outcome == {
        "t=50 s: PING completed": "PASS",  # the step at 500 s never ran: no check for it
        "event TIME_SYNCHRONISED seen 1 to 1 times": "PASS",
        "housekeeping tm_dropped never above 0": "PASS",
        "ticks at least 600": "NOT REACHED",
        "housekeeping uptime_s rises to 550 or more": "NOT REACHED",
        "housekeeping uptime_s never above 1000": "PASS",
        "flight controller stops cleanly on SIGTERM": "PASS",
    }
    summary = report.summary(tmp_path / "a")
    assert "5/5 checks passed, 2 not reached" in summary
    assert "ended early at bus second 150 of 600" in summary
    doc = report.to_json()
    assert doc["ended_early"] == {"at_s": 150, "duration_s": 600}
    assert [c["passed"] for c in doc["checks"]].count(None) == 2
    failing = run(UNTIL.replace("LIMIT", "100"), tmp_path / "b", until_s=150)
    assert not failing.passed  # a limit crossed before the end is a failure, early or not
    assert {c.name: c.outcome for c in failing.checks}[
        "housekeeping uptime_s never above 100"
    ] == "FAIL"


def test_html_report_with_its_plots(tmp_path):
    report = run(SHORT, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "HIL scenario short: PASS" in page
    for check in report.checks:
        assert check.name.replace("'", "&#x27;") in page
    for plot in ("power", "battery", "temperature", "windows", "jobs"):
        png = tmp_path / f"report-{plot}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f'src="report-{plot}.png"' in page
