"""The ground command line against a live bench: real station, real controller, real pty."""

import asyncio
import json
import sys

import pytest

from ground.accounts.credentials import new_token
from ground.client import CommandRefused, StationUnreachable
from ground.procedure import ProcedureError, StationProcedure
from tests.ground.test_cli import free_port
from hil.bench import BenchConfig, run_bench


async def ground(bench, *args):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ground",
        *args,
        "--station",
        bench.station_address,
        "--token-file",
        str(bench.token_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=bench.config.out_dir,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


def test_ping_submit_jobs_and_tlm(tmp_path):
    manifest = tmp_path / "job.toml"
    manifest.write_text('id = "cli-1"\ncommand = ["hash-chain", "--iterations", "1000"]\n')
    results = {}

    async def scenario(bench):
        results["ping"] = await ground(bench, "ping", "--json")
        results["submit"] = await ground(bench, "submit", str(manifest))
        results["again"] = await ground(bench, "submit", str(manifest))
        await bench.housekeeping_where(lambda v: v["jobs_completed"] == 1, 600)
        results["jobs"] = await ground(bench, "jobs", "--json")
        results["jobs_text"] = await ground(bench, "jobs")
        results["tlm"] = await ground(bench, "tlm", "--count", "2", "--json")
        results["tlm_text"] = await ground(bench, "tlm", "--count", "1")
        bench.check("scenario ran", True)

    # A real job process: real time (fast), not lockstep, which would outrun it.
    config = BenchConfig(tmp_path / "out", speed=20)
    report = asyncio.run(run_bench("cli", scenario, config))
    assert report.passed, report.to_json()["error"]

    code, out, _ = results["ping"]
    assert code == 0 and json.loads(out)["ok"] is True
    assert results["submit"][:2] == (0, "job cli-1 accepted\n")
    code, _, _ = results["again"]
    assert code == 1
    assert "SUBMIT_JOB failed at completion: JOB_DUPLICATE" in results["again"][1]
    code, out, _ = results["jobs"]
    (job,) = json.loads(out)
    assert code == 0 and job["id"] == "cli-1" and job["state"] == "COMPLETED"
    code, out, _ = results["jobs_text"]
    head, row = out.splitlines()
    for column in ("state", "priority", "progress", "exit", "started (UTC)", "ended (UTC)"):
        at = head.index(column)
        assert row[at - 2 : at] == "  " or row[at - 1] == " ", (column, head, row)
    assert "COMPLETED" in row and "100 %" in row and row.endswith("Z")  # UTC, to the second
    assert len(row.split()[-1]) == 20  # 2026-01-01T00:00:05Z: no 25-character times
    code, out, _ = results["tlm"]
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 2 and lines[1]["ticks"] > lines[0]["ticks"]
    assert lines[0]["time"].startswith("2026-01-01T")
    code, out, _ = results["tlm_text"]
    assert code == 0 and "job COMPLETED" in out and "done 1" in out


def test_a_procedure_against_the_station(tmp_path):
    """The procedure API (shared with the bench's test API) against a running station."""
    seen = {}

    def procedure(address, token_file):
        with StationProcedure(address, token_file=token_file) as p:
            seen["noop"] = p.send_command("NOOP").stages
            seen["hk"] = p.await_telemetry("HOUSEKEEPING", lambda tm: tm.values["tc_accepted"] >= 1)
            seen["cancel"] = p.assert_command_rejected(
                "CANCEL_JOB", {"job_id": "nope"}, failure="JOB_UNKNOWN", confirm=True
            ).describe()
            try:
                p.send_command("CANCEL_JOB", {"job_id": "nope"}, confirm=True)
            except ProcedureError as exc:
                seen["refused"] = str(exc)
            try:  # hazardous: not without the operator's confirmation
                p.send_command("CANCEL_JOB", {"job_id": "nope"})
            except CommandRefused as exc:
                seen["unconfirmed"] = str(exc)
            try:
                p.await_telemetry("PING_REPORT", within_s=0.5)
            except ProcedureError as exc:
                seen["silence"] = str(exc)

    async def scenario(bench):
        await asyncio.to_thread(procedure, bench.station_address, bench.token_file)
        bench.check("procedure ran", True)

    report = asyncio.run(run_bench("procedure", scenario, BenchConfig(tmp_path / "out", speed=20)))
    assert report.passed, report.to_json()["error"]
    assert seen["noop"] == ["ACCEPTANCE_SUCCESS", "COMPLETION_SUCCESS"]
    assert seen["hk"].values["tc_accepted"] >= 1
    assert "JOB_UNKNOWN" in seen["cancel"]
    assert seen["refused"].startswith("CANCEL_JOB failed at")
    assert seen["unconfirmed"] == "CANCEL_JOB is hazardous: it goes up only when confirmed"
    assert seen["silence"] == "no PING_REPORT matching None within 0.5 s"


def test_a_procedure_without_a_station_says_so():
    with pytest.raises(StationUnreachable, match="cannot reach the station"):
        with StationProcedure(f"127.0.0.1:{free_port()}", token=new_token()[2]):
            pass


def test_an_upload_outside_a_window_says_its_answer_comes_with_the_next(tmp_path):
    """The payload's answer comes down only in a window: out of one, the command line says the
    answer comes with the next window (exit 3), not "no answer"; and so it does."""
    from hil.scenario import load_scenario
    from hil.scenario_run import bench_config

    weights = tmp_path / "w.bin"
    weights.write_bytes(bytes(range(256)) * 8)
    results = {}

    async def scenario(bench):
        assert not bench.bus.radio.window_open  # the passes scenario's first window is at ~1 325 s
        results["upload"] = await ground(bench, "upload", str(weights), "--timeout", "2")
        events = bench.bus.serial.events
        await bench.bus.clock.within(
            _until(lambda: any(e.name == "FILE_RECEIVED" for e in events)), 2000
        )
        results["window"] = bench.bus.radio.window_open
        stored = bench.state_dir / "files" / "w.bin"
        results["arrived"] = stored.read_bytes() == weights.read_bytes()
        bench.check("scenario ran", True)

    config = bench_config(load_scenario("passes"), tmp_path / "out", speed=50)
    report = asyncio.run(run_bench("upload", scenario, config))
    assert report.passed, report.to_json()["error"]
    code, out, err = results["upload"]
    assert code == 3, (out, err)
    assert "comes down with the next link window" in err and "no answer" not in err
    assert len(err.strip().splitlines()) == 1
    assert results["window"] and results["arrived"]  # it went with the next window, whole


async def _until(condition):
    while not condition():
        await asyncio.sleep(0.05)
