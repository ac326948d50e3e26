"""What routing across the laser mesh did in a fleet run: every result file a satellite's jobs
left (as their RESULTS.json on board lists them, with it) against what the station filed under
that satellite, whichever satellite brought it down: results lost (not at the ground), results
whose SHA-256 disagrees, results told to operators twice; and how the files went: passed on
over laser links, taken, transfers that failed and were routed again, copies dropped; and the
ground's consignments that reached their satellites."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from flight.downlink.service import RESULTS_MANIFEST

RELAY_EVENTS = ("FILE_FORWARDED", "FILE_TAKEN", "FILE_FORWARD_FAILED", "FILE_TAKEN_AGAIN",
                "CONSIGNMENT_DELIVERED")  # fmt: skip


def expected_results(state: Path) -> dict[str, str | None]:
    """A payload's result files (JOB/PATH) with the SHA-256 its jobs' RESULTS.json give them
    (None for the RESULTS.json files themselves)."""
    out: dict[str, str | None] = {}
    for manifest in sorted((state / "jobs").glob(f"*/{RESULTS_MANIFEST}")):
        job = manifest.parent.name
        out[f"{job}/{RESULTS_MANIFEST}"] = None
        for r in json.loads(manifest.read_text())["results"]:
            out[f"{job}/{r['path']}"] = r["sha256"]
    return out


def routing_figures(
    expected: dict[str, dict[str, str | None]],
    filed: dict[str, list[dict[str, Any]]],
    told: dict[str, Counter[str]],
    events: dict[str, Counter[str]],
) -> dict[str, Any]:
    """Per satellite name: the results it made (``expected``), the rows the station filed
    under it (``filed``, as ``ground files --json`` lists them), how often each file was told
    to its clients (``told``), and the relay events it sent (``events``)."""
    made = lost = wrong = twice = 0
    for name, results in expected.items():
        rows = {r["name"]: r for r in filed.get(name, []) if r["delivered"]}
        made += len(results)
        for path, digest in results.items():
            row = rows.get(path)
            if row is None:
                lost += 1
            elif row["check"] == "rejected" or (digest is not None and row["sha256"] != digest):
                wrong += 1
        twice += sum(1 for n in told.get(name, Counter()).values() if n > 1)
    relayed = Counter[str]()
    for counts in events.values():
        relayed.update(counts)
    return {
        "routing_results": made,
        "routing_lost": lost,
        "routing_sha256_wrong": wrong,
        "routing_told_twice": twice,
        "routing_forwarded": relayed["FILE_FORWARDED"],
        "routing_taken": relayed["FILE_TAKEN"],
        "routing_forward_failed": relayed["FILE_FORWARD_FAILED"],
        "routing_copies_dropped": relayed["FILE_TAKEN_AGAIN"],
        "consignments_delivered": relayed["CONSIGNMENT_DELIVERED"],
    }
