"""Results routed across the laser mesh, as shipped: constellation-relay's four satellites make
their results out of contact, send them on over laser links toward whichever satellite passes
the station first, while the links come and go and five controllers are killed with transfers
open; every result reaches the ground once, under the satellite that made it, its SHA-256
intact. A job and its input sent to a satellite out of contact reach it across the mesh, run,
and their verification and results come down. Real controllers, real UDP laser terminals, a
real station."""

import hashlib
import json
import os
import subprocess
import sys


def test_every_result_reaches_the_ground_once_across_topology_changes_and_restarts(tmp_path):
    out = tmp_path / "relay"
    done = subprocess.run(
        [sys.executable, "-m", "hil", "run", "constellation-relay", "--out", str(out)],
        capture_output=True, text=True, timeout=1800, env={**os.environ, "PYTHONSAFEPATH": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    verdict = json.loads((out / "fleet.json").read_text())
    routing = verdict["isl"]
    assert routing["routing_results"] == 45  # 4 satellites x 2 jobs x 5 files, the relayed job's
    assert (routing["consignments_delivered"], routing["relayed_commands"]) == (1, 1)
    assert routing["relayed_commands_completed"] == 1
    assert (routing["routing_lost"], routing["routing_sha256_wrong"]) == (0, 0)
    assert routing["routing_told_twice"] == 0
    assert routing["routing_forwarded"] > 0 and routing["isl_carried"] > 0
    assert routing["controller_kills_during_transfers"] == 5
    assert verdict["topology_changes"] >= 20
    assert all(craft["apart"] for craft in verdict["spacecraft"])
    # a result made on one satellite and brought down by another is filed under its maker
    rows = _filed(out, "p1-1")
    results = {r["name"]: r["check"] for r in rows if r["name"].endswith("result.bin")}
    assert results == {"model-1/result.bin": "verified", "model-2/result.bin": "verified"}
    # the job that went up to p2-1 for p1-2 ran on p1-2, from the seed it carried
    relayed = {
        r["name"]: r["check"] for r in _filed(out, "p1-2") if r["name"].startswith("relayed-1/")
    }
    assert relayed["relayed-1/result.bin"] == "verified"
    chain = json.loads(
        (out / "ground-state" / "p1-2" / "files" / "relayed-1" / "result.json").read_text()
    )
    digest = b"a seed uplinked across the mesh"
    for _ in range(20000):
        digest = hashlib.sha256(digest).digest()
    assert chain["sha256"] == digest.hex()


def _filed(out, spacecraft):
    """The files the station filed under a spacecraft, as ``ground files --json`` lists them."""
    state = out / "ground-state" / spacecraft
    listing = subprocess.run(
        [sys.executable, "-m", "ground", "files", "--state", str(state), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(listing.stdout)
