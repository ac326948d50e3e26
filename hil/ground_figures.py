"""What reached the ground in a run: housekeeping per bus second (live or played back from the
payload's stored telemetry) and the files the station received, for the downlink checks."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from flight.protocol.messages import DecodedTelemetry


class GroundTrack:
    """A listener on the station client: counts housekeeping reports by their bus second."""

    def __init__(self) -> None:
        self.hk_seconds: Counter[int] = Counter()

    def update(self, tm: DecodedTelemetry) -> None:
        if tm.name == "HOUSEKEEPING":
            self.hk_seconds[int(tm.packet.time)] += 1

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
