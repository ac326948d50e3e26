"""Two payload spacecraft against one ground station on the bench, in lockstep: each runs the
scenario as its own run, and nothing of one lands under the other in the station's archive or
files; the check that says so catches a packet filed under the wrong spacecraft. A
constellation's eight satellites step through bus time on one clock, the same in every run of a
seed (the fleet broker's jobs and the consignments it sends across the mesh included), with
their laser links' topology computed from the geometry."""

import json
import os
import subprocess
import sys

from flight.protocol.packets import split_packets
from ground.archive import Archive
from hil.environment import EnvironmentConfig
from hil.fleet_bench import FleetMember, kept_apart
from hil.models.isl import compute_topology
from hil.models.orbit import compute_track
from hil.scenario import load_scenario


def test_two_spacecraft_on_one_station_each_pass_and_stay_apart(tmp_path):
    out = tmp_path / "fleet"
    done = subprocess.run(
        [sys.executable, "-m", "hil", "run", "nominal-day", "--fleet", "2", "--out", str(out),
         "--until", "1h"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONSAFEPATH": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    verdict = json.loads((out / "fleet.json").read_text())
    assert verdict["passed"] and [s["scid"] for s in verdict["spacecraft"]] == [161, 162]
    for craft in verdict["spacecraft"]:
        assert craft["apart"] and craft["not_sent"] == 0 and craft["files_not_sent"] == 0
        assert craft["archived"] > 3000  # an hour of housekeeping, at least
        report = json.loads((out / craft["name"] / "report.json").read_text())
        assert report["result"] == "pass" and report["figures"]["ticks"] >= 3600
    sent = [set(split_packets((out / f"sc{scid}" / "tm.bin").read_bytes())) for scid in (161, 162)]
    assert len(sent[0] - sent[1]) > 3000  # their own orbits: telemetry of their own
    assert (out / "ground-state" / "sc161" / "files.sqlite").is_file()
    assert (out / "ground-state" / "sc162" / "files.sqlite").is_file()
    # a packet of 162's filed under 161 is caught
    ours_only = next(iter(sent[1] - sent[0]))
    archive = Archive(out / "ground-state" / "archive.sqlite", create=False)
    archive.packet(161, ours_only, 2e9)
    archive.packet(170, ours_only, 2e9)  # and one under an id the fleet does not have
    archive.close()
    members = [FleetMember(f"sc{scid}", scid, EnvironmentConfig()) for scid in (161, 162)]
    mixed = kept_apart(out, members)
    assert [(s["not_sent"], s["strangers"], s["apart"]) for s in mixed] == [
        (1, 1, False),
        (0, 1, False),
    ]


UNTIL_S = 3 * 3600  # past the fleet's first jobs sent across the laser mesh (5400 s, 10200 s)


def _constellation_day(out):
    return subprocess.run(
        [sys.executable, "-m", "hil", "run", "constellation-day", "--out", str(out),
         "--until", f"{UNTIL_S}s"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONSAFEPATH": "1"},
    )  # fmt: skip


def test_a_constellation_steps_on_one_clock_with_its_laser_links_from_geometry(tmp_path):
    out = tmp_path / "constellation"
    done = _constellation_day(out)
    again = _constellation_day(tmp_path / "again")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    verdict = json.loads((out / "fleet.json").read_text())
    names = [s["name"] for s in verdict["spacecraft"]]
    assert names == [f"p{p}-{s}" for p in (1, 2) for s in (1, 2, 3, 4)] and verdict["passed"]
    assert [s["scid"] for s in verdict["spacecraft"]] == list(range(161, 169))
    ticks = {json.loads((out / n / "report.json").read_text())["figures"]["ticks"] for n in names}
    assert len(ticks) == 1 and ticks.pop() >= UNTIL_S  # every bus stepped through the same seconds
    for name in names:  # deterministic for its seed, every satellite, the broker's jobs included
        tm = (out / name / "tm.bin").read_bytes()
        assert len(tm) > 10_000 and tm == (tmp_path / "again" / name / "tm.bin").read_bytes()
    said = "\n".join((out / n / "report.json").read_text() for n in names)
    assert "CONSIGNMENT_DELIVERED" in said and "JOB_COMPLETED" in said  # across the mesh too
    scenario = load_scenario("constellation-day")
    satellites = scenario.constellation
    positions = [compute_track(s.orbit, scenario.start, UNTIL_S).position_km for s in satellites]
    expected = compute_topology([s.name for s in satellites], positions, scenario.isl)
    topology = json.loads((out / "topology.json").read_text())
    assert verdict["topology_changes"] == len(expected.changes) == len(topology["changes"]) > 8
    assert {c["up"] for c in topology["changes"]} == {True, False}
    assert [(c["t_s"], c["up"], c["a"], c["b"]) for c in topology["changes"]] == [
        (c.t_s, c.up, c.a, c.b) for c in expected.changes
    ]
    assert "topology changes" in done.stdout and "fleet of 8: PASSED" in done.stdout
    # the fleet's jobs, placed by the broker, sent up in contact or across the mesh, the same
    # each run: inference every 20 min from 600 s, batch every hour from 900 s, training at 1800 s
    # (refused: it cannot checkpoint, and needs more than an orbit's unbroken power)
    placed = [
        json.loads((d / "fleet.json").read_text())["workload"] for d in (out, tmp_path / "again")
    ]
    assert placed[0] == placed[1] and placed[0]["fleet_jobs"] == 13
    page = (out / "fleet.html").read_text()
    for plot in ("groundtrack", "links", "power", "jobs", "latency"):
        assert (
            f'src="fleet-{plot}.png"' in page and (out / f"fleet-{plot}.png").stat().st_size > 5000
        )
    assert all(f'href="{name}/report.html"' in page for name in names)
    assert f"Topology changes ({len(expected.changes)})" in page
    for args, words in (
        (["constellation-day", "--fleet", "2"], "declares its constellation of 8 satellites"),
        (["passes", "--placement", "round-robin"], "--placement places a constellation's workload"),
    ):
        refused = subprocess.run(
            [sys.executable, "-m", "hil", "run", *args, "--out", str(tmp_path / "no")],
            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONSAFEPATH": "1"},
        )  # fmt: skip
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
        assert words in refused.stderr
