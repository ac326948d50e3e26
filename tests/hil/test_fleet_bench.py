"""Two payload spacecraft against one ground station on the bench, in lockstep: each runs the
scenario as its own run, and nothing of one lands under the other in the station's archive or
files; the check that says so catches a packet filed under the wrong spacecraft."""

import json
import os
import subprocess
import sys

from flight.protocol.packets import split_packets
from ground.archive import Archive
from hil.bench import BenchConfig, BenchRun
from hil.fleet_bench import kept_apart


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
    runs = [
        BenchRun("x", BenchConfig(out / f"sc{scid}", spacecraft_id=scid)) for scid in (161, 162)
    ]
    mixed = kept_apart(out, runs)
    assert [(s["not_sent"], s["strangers"], s["apart"]) for s in mixed] == [
        (1, 1, False),
        (0, 1, False),
    ]
