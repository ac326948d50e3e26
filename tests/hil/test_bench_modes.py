"""Bench mechanics in-process: lockstep time, and a failed check failing the run."""

import asyncio
import json

from hil.bench import BenchConfig, run_bench


def test_lockstep_answers_every_tick_in_bench_time(tmp_path):
    seen = []

    async def scenario(bench):
        first = await bench.housekeeping_where(lambda v: True, 10)
        last = await bench.housekeeping_where(lambda v: v["uptime_s"] >= 300, 400)
        seen.extend([first.values, last.values])
        bench.check("300 bus seconds of housekeeping", last.values["uptime_s"] == 300)

    report = asyncio.run(run_bench("lockstep", scenario, BenchConfig(tmp_path, speed=None)))
    assert report.passed, report.to_json()
    assert report.mode == "lockstep"
    first, last = seen
    # no tick went missing: ticks and bus seconds advanced together, second by second
    assert last["ticks"] - first["ticks"] == last["uptime_s"] - first["uptime_s"] > 250
    assert report.figures["ticks_unanswered"] == 0


def test_a_failed_check_fails_the_run(tmp_path):
    async def scenario(bench):
        bench.check("always holds", True)
        bench.check("never holds", False, "by design")

    report = asyncio.run(run_bench("failing", scenario, BenchConfig(tmp_path, speed=None)))
    assert not report.passed
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["result"] == "fail"
    assert [c["passed"] for c in doc["checks"]][:2] == [True, False]


def test_a_deadline_in_bench_time_ends_the_run_with_an_error(tmp_path):
    async def scenario(bench):
        await bench.housekeeping_where(lambda v: v["jobs_completed"] > 0, 20)

    report = asyncio.run(run_bench("deadline", scenario, BenchConfig(tmp_path, speed=None)))
    assert not report.passed
    assert report.error == "not within 20 bus seconds"


def test_a_refused_command_ends_the_run_with_a_report(tmp_path):
    async def scenario(bench):
        await bench.client.command("NO_SUCH_COMMAND")

    report = asyncio.run(run_bench("refused", scenario, BenchConfig(tmp_path, speed=None)))
    assert report.error == "ground station: unknown command 'NO_SUCH_COMMAND'"
    assert json.loads((tmp_path / "report.json").read_text())["result"] == "fail"
