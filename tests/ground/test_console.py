"""The operator console, driven by Textual's pilot: against a live bench (real station, real
controller), an archived pass replayed from a real SQLite archive, and a station that comes and
goes."""

from __future__ import annotations

import asyncio
import json
import re
import sys

from rich.text import Text
from textual.widgets import DataTable, Select
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from flight import dictionary as d
from flight.security.keys import provision_keys
from ground.accounts.credentials import read_token_file
from flight.spacelink.profile import DEFAULT_SCID
from ground.archive import Archive
from ground.console.app import Confirm, Console
from ground.console.feeds import ReplayFeed, StationFeed
from ground.console.model import Model
from hil.bench import BenchConfig, run_bench
from tests.ground.accounts import provision
from tests.ground.test_archive import T0, hk, tm
from tests.ground.test_cli import free_port

SIZE = (160, 50)


async def until(pilot, condition, timeout=30.0):
    """Let the app run until condition() holds (wall time: the bench runs in real time)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        assert loop.time() < end, (
            f"the console did not get there in time: {pilot.app.messages} "
            f"{[(c.name, c.describe()) for c in pilot.app.model.commands.values()]}"
        )
        await pilot.pause(0.05)


async def type_line(pilot, line):
    command = pilot.app.main.query_one("#command")
    command.focus()
    command.value = line
    await pilot.press("enter")


def cell(app, table_id, row_key, column="value"):
    return app.query_one(table_id, DataTable).get_cell(row_key, column)


def shown(app, table_id, row_key, column="value"):
    """The cell's text once the table has the row, else None (the first report not drawn)."""
    try:
        return str(cell(app, table_id, row_key, column))
    except (CellDoesNotExist, RowDoesNotExist):
        return None


def uptime_drawn(app) -> bool:
    text = shown(app, "#table-HOUSEKEEPING", "HOUSEKEEPING.uptime_s") or ""
    return text.endswith(" s") and text.split()[0].isdigit() and int(text.split()[0]) >= 1


def rows(app, table_id):
    table = app.query_one(table_id, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def console_for(address, token):
    model = Model()
    return Console(model, StationFeed(model, address, token))


def test_commanding_a_live_payload(tmp_path):
    manifest = tmp_path / "job.json"
    manifest.write_text(
        json.dumps({"id": "console-1", "command": ["hash-chain", "--iterations", "1000"]})
    )
    fleet_job = tmp_path / "fleet-job.json"
    fleet_job.write_text(json.dumps({"id": "fleet-1", "command": ["hash-chain"]}))
    weights = tmp_path / "w.bin"
    weights.write_bytes(bytes(range(256)) * 40)
    seen = {}

    async def scenario(bench):
        app = console_for(bench.station_address, read_token_file(bench.token_file))
        async with app.run_test(size=SIZE) as pilot:
            model = app.model
            await until(pilot, lambda: model.packets > 3 and model.link_up)
            await until(pilot, lambda: uptime_drawn(app))  # the first report on the screen
            await until(pilot, lambda: "space link UP" in str(app.query_one("#status").render()))
            await until(
                pilot, lambda: "COP-1 161: active" in str(app.query_one("#status").render())
            )
            seen["uptime"] = str(cell(app, "#table-HOUSEKEEPING", "HOUSEKEEPING.uptime_s"))
            seen["status"] = str(app.query_one("#status").render())
            # completion, then a command and its verification
            app.query_one("#command").value = "NO"
            await pilot.press("tab")
            seen["completed"] = app.query_one("#command").value
            await type_line(pilot, "NOOP")
            await until(
                pilot, lambda: any(c.status == "completed" for c in model.commands.values())
            )
            # mistakes: one line each, nothing sent
            sent = len(model.commands)
            await type_line(pilot, "FROB")
            seen["unknown"] = app.messages[-1]
            seen["cleared"] = app.query_one("#command").value
            await pilot.press("up")  # the refused line comes back to be mended, not appended to
            seen["recalled"] = app.query_one("#command").value
            await pilot.press("down")
            seen["after down"] = app.query_one("#command").value
            await type_line(pilot, "REPRIORITISE_JOB job_id=x priority=300")
            seen["bad_arg"] = app.messages[-1]
            await type_line(pilot, "BUS_TICK")
            seen["bus_only"] = app.messages[-1]
            seen["none_sent"] = len(model.commands) == sent
            # a hazardous command asks first
            await type_line(pilot, "CANCEL_JOB job_id=nope")
            await until(pilot, lambda: isinstance(app.screen, Confirm))
            await pilot.press("n")
            await until(pilot, lambda: "not sent" in app.messages[-1])
            seen["declined"] = len(model.commands) == sent
            await type_line(pilot, "CANCEL_JOB job_id=nope")
            await until(pilot, lambda: isinstance(app.screen, Confirm))
            await pilot.press("y")
            await until(pilot, lambda: any(c.status == "failed" for c in model.commands.values()))
            await pilot.press("f3")
            await until(
                pilot,
                lambda: any(
                    r[1] == "CANCEL_JOB job_id=nope" and r[2].startswith("FAILED")
                    for r in rows(app, "#command-log")
                ),
            )
            seen["commands"] = rows(app, "#command-log")
            # a job from a manifest, seen in the jobs view
            await type_line(pilot, f"submit {manifest}")
            await pilot.press("f4")
            await until(pilot, lambda: model.jobs.get("console-1", {}).get("state") == "COMPLETED")
            await until(
                pilot,
                lambda: any(r[:2] == ["console-1", "COMPLETED"] for r in rows(app, "#job-table")),
            )
            seen["jobs"] = rows(app, "#job-table")
            # the jobs view's keys act on the selected job: F4 gives them to its table
            await pilot.press("escape")
            await pilot.press("f4")
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, Confirm))
            seen["confirm"] = str(app.screen.query_one("#question").render())
            await pilot.press("escape")
            await pilot.press("plus")

            def reprioritised():
                return next(
                    (c for c in model.commands.values() if c.name == "REPRIORITISE_JOB"), None
                )

            await until(pilot, lambda: reprioritised() and reprioritised().status == "failed")
            seen["reprioritise"] = (reprioritised().args, reprioritised().failure)
            # a file up to the payload's store, followed in the files view
            await type_line(pilot, f"upload {weights} weights.bin")
            await pilot.press("f5")
            await until(
                pilot, lambda: model.files.get("weights.bin", {}).get("state") == "delivered"
            )
            await until(
                pilot,
                lambda: any(
                    r[0] == "weights.bin" and r[3] == "delivered" for r in rows(app, "#file-table")
                ),
            )
            seen["files"] = rows(app, "#file-table")
            # the fleet view: the station's one spacecraft, with its latest housekeeping
            await pilot.press("f6")
            await until(pilot, lambda: any(r[4] != "-" for r in rows(app, "#fleet-table")))
            seen["fleet"] = rows(app, "#fleet-table")
            # a job for the fleet job broker, placed on the one spacecraft there is
            await type_line(pilot, f"fleet submit {fleet_job}")
            await until(pilot, lambda: any("placed on payload" in m for m in app.messages))
            await until(
                pilot,
                lambda: any(
                    r[:3] == ["fleet-1", "completed", "payload"] for r in rows(app, "#fleet-jobs")
                ),  # fmt: skip
            )
            seen["broker"] = str(app.query_one("#broker").render())
        bench.check("console ran", True)

    report = asyncio.run(run_bench("console", scenario, BenchConfig(tmp_path / "out", speed=20)))
    assert report.passed, report.to_json()["error"]
    assert seen["uptime"].endswith(" s") and int(seen["uptime"].split()[0]) >= 1
    assert "space link UP" in seen["status"] and "UTC 20" in seen["status"]
    assert seen["completed"] == "NOOP "
    assert seen["unknown"].startswith("no command 'FROB'")
    assert (seen["cleared"], seen["recalled"], seen["after down"]) == ("", "FROB", "")
    assert "priority" in seen["bad_arg"] and "300" in seen["bad_arg"]
    assert seen["bus_only"].startswith("BUS_TICK is sent by the bus, not the ground")
    assert seen["none_sent"] and seen["declined"]
    statuses = {r[1]: r[2] for r in seen["commands"]}
    assert statuses["NOOP"] == "completed"
    assert statuses["CANCEL_JOB job_id=nope"].startswith("FAILED JOB_UNKNOWN")
    (job,) = [r for r in seen["jobs"] if r[0] == "console-1"]
    assert job[1] == "COMPLETED" and job[4] == "0"
    assert job[3] == "100 %"  # JOB_LIST's fraction as per cent, not "1.0 %"
    assert seen["confirm"] == "CANCEL_JOB job_id=console-1 is HAZARDOUS."
    args, failure = seen["reprioritise"]
    assert args == {"job_id": "console-1", "priority": int(job[2]) + 10}
    assert failure.startswith("JOB_STATE_CONFLICT")  # a finished job keeps its priority
    (row,) = [r for r in seen["files"] if r[0] == "weights.bin"]
    assert row[1:4] == ["up", "10240", "delivered"]
    ((name, scid, link, _, power, sun, gpu, jobs, contact, *_),) = seen["fleet"]
    assert (name, scid, link) == ("payload", str(DEFAULT_SCID), "up")
    assert re.fullmatch(r"\d+ W \d+%", power) and sun in ("sun", "shadow")
    assert re.fullmatch(r"-?\d+ C \d+ W|off", gpu) and "queued" in jobs and contact == "now"
    assert "fleet job broker (broker placement): 1 " in seen["broker"]


def _archive(tmp_path):
    archive = Archive(tmp_path / "archive.sqlite")
    packets = [
        tm("HOUSEKEEPING", hk(uptime_s=1, battery_soc=0.9, gpu_temp_c=40.0), 1, T0),
        tm(
            "HOUSEKEEPING",
            hk(uptime_s=2, battery_soc=0.1, gpu_temp_c=82.0, link_in_s=0),
            2,
            T0 + 1,
        ),
        tm("JOB_STARTED", {"job_id": "train-1", "pid": 4242}, 3, T0 + 1.5, event=True),
        tm("STORE_ERROR", {"reason": "disk full"}, 4, T0 + 2, event=True),
        tm("TIME_JUMP", {"expected": T0, "received": T0 + 9}, 5, T0 + 9, event=True),
    ]
    for i, raw in enumerate(packets):
        archive.packet(DEFAULT_SCID, raw, T0 + 100 + i)
    archive.close()
    return tmp_path / "archive.sqlite"


def _replay_app(path, speed=1000.0):
    model = Model()
    return Console(model, ReplayFeed(model, path, None, None, speed))


def test_a_replayed_pass_shows_limits_stale_values_and_events(tmp_path):
    path = _archive(tmp_path)

    async def run():
        app = _replay_app(path)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.messages and app.messages[-1] == "replay finished")
            await until(
                pilot,
                lambda: shown(app, "#table-HOUSEKEEPING", "HOUSEKEEPING.uptime_s") == "2 s (stale)",
            )
            await until(pilot, lambda: "window OPEN" in str(app.query_one("#status").render()))
            battery = cell(app, "#table-HOUSEKEEPING", "HOUSEKEEPING.battery_soc")
            temp = cell(app, "#table-HOUSEKEEPING", "HOUSEKEEPING.gpu_temp_c")
            uptime = cell(app, "#table-HOUSEKEEPING", "HOUSEKEEPING.uptime_s")
            status = str(app.query_one("#status").render())
            await pilot.press("f2")
            await until(pilot, lambda: len(rows(app, "#event-log")) == 3)
            every = rows(app, "#event-log")
            app.query_one("#severity", Select).value = int(d.Severity.HIGH)
            await until(pilot, lambda: 0 < len(rows(app, "#event-log")) < len(every))
            high = rows(app, "#event-log")
            app.query_one("#severity", Select).value = int(d.Severity.INFO)
            app.query_one("#search").value = "train"
            await until(pilot, lambda: [r[2] for r in rows(app, "#event-log")] == ["JOB_STARTED"])
            searched = rows(app, "#event-log")
            await type_line(pilot, "PING")
            refused = app.messages[-1]
            return battery, temp, uptime, status, every, high, searched, refused

    battery, temp, uptime, status, every, high, searched, refused = asyncio.run(run())
    assert isinstance(battery, Text) and "red" in str(battery.style)
    assert isinstance(temp, Text) and "yellow" in str(temp.style)
    # the last housekeeping is 8 s older than the replay's clock: stale
    assert str(uptime) == "2 s (stale)" and "dim" in str(uptime.style)
    assert "window OPEN" in status and "replay of" in status
    assert [r[2] for r in every] == ["JOB_STARTED", "STORE_ERROR", "TIME_JUMP"]
    assert {r[1] for r in high} == {"HIGH"} and len(high) < len(every)
    assert [r[2] for r in searched] == ["JOB_STARTED"]
    assert refused == "this is a replay: no commands go up"


def test_the_console_reconnects_to_a_station_that_comes_back(tmp_path):
    port = free_port()
    keys = provision_keys(tmp_path / "keys").ground
    users, tokens = provision(tmp_path / "accounts")

    async def run():
        app = console_for(f"127.0.0.1:{port}", tokens["ops"])
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.model.station.startswith("no station"))
            for _ in range(2):  # the station starts, dies, and starts again
                station = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "ground",
                    "station",
                    "--listen",
                    f"127.0.0.1:{port}",
                    "--link",
                    f"127.0.0.1:{free_port()}",
                    "--state",
                    str(tmp_path / "ground"),
                    "--keys",
                    str(keys),
                    "--users",
                    str(users),
                    stderr=asyncio.subprocess.DEVNULL,
                    cwd=tmp_path,
                )
                await until(pilot, lambda: app.model.station.startswith("connected"))
                station.kill()
                await station.wait()
                await until(pilot, lambda: not app.model.station.startswith("connected"))
            return list(app.messages)

    messages = asyncio.run(run())
    assert messages[0].startswith(f"cannot reach the station at 127.0.0.1:{port}")
    assert sum(m.startswith("connected to the station") for m in messages) == 2
    assert sum(m.startswith("lost the station") for m in messages) == 2
    assert all("Traceback" not in m for m in messages)


def test_a_replay_of_one_spacecraft_of_a_fleets_archive_shows_only_its_packets(tmp_path):
    path = _archive(tmp_path)
    archive = Archive(path)
    archive.packet(162, tm("HOUSEKEEPING", hk(uptime_s=99), 9, T0 + 3), T0 + 200)
    archive.close()

    async def replayed(scid):
        model = Model()
        feed = ReplayFeed(model, path, None, None, 1e6, scid)
        said = []
        feed.say = said.append
        task = asyncio.create_task(feed.run())
        while "replay finished" not in said:
            await asyncio.sleep(0.01)
        task.cancel()
        return said[0]

    for scid, count in ((DEFAULT_SCID, 5), (162, 1), (None, 6)):
        assert asyncio.run(replayed(scid)) == f"replaying {count} packets at 1e+06x"
