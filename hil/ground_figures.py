"""What reached the ground in a run: housekeeping per bus second (live or played back from the
payload's stored telemetry), the files the station received, for the downlink checks, and each
job's result: the bus seconds from its JOB_COMPLETED event on board to that event reaching the
station's client (live, or played back after a pass), timed at the bus second the bus passed on
the copy the client heard, so that a lockstep run gives the same figure whichever side of a
tick the client's socket is read."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from flight.protocol.messages import DecodedTelemetry


class GroundTrack:
    """A listener on the station client (``update``, ``told``) and on the bus (``passed_on``):
    counts housekeeping reports by their bus second and the files the station told of, and
    times each job's result to the ground (``clock``: the bus time now)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.hk_seconds: Counter[int] = Counter()
        self.results: dict[str, tuple[float, float]] = {}  # job -> completed at, latency s
        self._passed_on: dict[str, float] = {}  # job -> bus second its latest copy went by
        self.files_told: Counter[str] = Counter()  # file name -> times told delivered

    def told(self, message: dict[str, Any]) -> None:
        """A station message to the client: counts each file told delivered."""
        if message.get("op") == "file" and message.get("delivered"):
            self.files_told[str(message.get("name"))] += 1

    def passed_on(self, tm: DecodedTelemetry) -> None:
        """A packet the bus took from the payload, live or played back, and relays as its
        radio allows: the latest bus second each job's completion went by."""
        if tm.name == "JOB_COMPLETED":
            self._passed_on[tm.values["job_id"]] = self.clock()

    def update(self, tm: DecodedTelemetry) -> None:
        if tm.name == "HOUSEKEEPING":
            self.hk_seconds[int(tm.packet.time)] += 1
        elif tm.name == "JOB_COMPLETED" and tm.values.get("job_id") not in self.results:
            job = tm.values["job_id"]
            heard = self._passed_on.get(job, self.clock())
            self.results[job] = (tm.packet.time, heard - tm.packet.time)

    def result_figures(self) -> dict:
        """How many jobs' results reached the ground, and the median and longest latency."""
        latencies = [latency for _, latency in self.results.values()]
        return {
            "ground_results_seen": len(latencies),
            "ground_result_latency_median_s": statistics.median(latencies) if latencies else None,
            "ground_result_latency_max_s": max(latencies) if latencies else None,
        }

    def figures(
        self, links: np.ndarray, start: float, ticks: int, files: list[dict[str, Any]]
    ) -> dict:
        """Housekeeping missing or repeated at the ground over the seconds before the last link
        window of the run opened (all of it recorded on board and played back in that window;
        what was lost live in the last window could only come down in a later one), and the
        station's files (as its client lists them) by their check."""
        seen = links[:ticks]
        opens = np.flatnonzero(seen[1:] & ~seen[:-1]) + 1
        last = int(opens[-1]) if opens.size else 0
        expected = [int(start) + s for s in range(1, last + 1)]
        figures = {
            "ground_hk_expected": len(expected),
            "ground_hk_missing": sum(1 for t in expected if not self.hk_seconds[t]),
            "ground_hk_duplicated": sum(1 for t in expected if self.hk_seconds[t] > 1),
        }
        checks = Counter(f["check"] for f in files if f["delivered"])
        figures |= {
            "ground_files_delivered": sum(1 for f in files if f["delivered"]),
            "ground_files_failed": sum(1 for f in files if not f["delivered"]),
            "ground_results_verified": checks["verified"],
            "ground_results_rejected": checks["rejected"],
            "ground_results_pending": checks["pending"],
        }
        return figures
