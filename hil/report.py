"""The record of a bench run: the timeline, the checks, the figures, and the files written.

DIR/report.json holds it all; DIR/tm.bin and DIR/tc.bin hold every telemetry and telecommand
packet that crossed the serial link, concatenated raw, for any CCSDS tool to read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from hil.cfdp_figures import summary_lines


def utc(seconds: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


@dataclass
class Check:
    """One assertion of a scenario and its outcome: passed, failed, or (None) not reached: a run
    ended early (--until) before what the check waits for could happen."""

    name: str
    passed: bool | None
    detail: str
    bus_time: str

    @property
    def outcome(self) -> str:
        """PASS, FAIL or NOT REACHED."""
        return {True: "PASS", False: "FAIL", None: "NOT REACHED"}[self.passed]


@dataclass
class Report:
    """Everything a run found out."""

    scenario: str
    mode: str
    bus_start: float
    seed: int = 0
    timeline: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    cfdp: dict[str, Any] = field(default_factory=dict)  # per link, each way (hil/cfdp_figures)
    error: str | None = None
    ended_early: tuple[float, float] | None = None  # (bus s run, bus s of the scenario): --until

    @property
    def judged(self) -> list[Check]:
        """The checks that were decided (not those a run ended early left unreached)."""
        return [c for c in self.checks if c.passed is not None]

    @property
    def passed(self) -> bool:
        """Every check decided held, at least one was, and nothing broke the run."""
        judged = self.judged
        return bool(judged) and all(c.passed for c in judged) and self.error is None

    def note(self, bus_time: float, what: str) -> None:
        """Add a line to the timeline."""
        self.timeline.append(
            {"bus_time": utc(bus_time), "t_s": round(bus_time - self.bus_start, 3), "what": what}
        )

    def check(self, bus_time: float, name: str, passed: bool | None, detail: str = "") -> bool:
        """Record a check (passed None: not reached); returns whether it passed."""
        check = Check(name, None if passed is None else bool(passed), detail, utc(bus_time))
        self.checks.append(check)
        word = {True: "passed", False: "FAILED", None: "not reached"}[check.passed]
        self.note(bus_time, f"check {word}: {name}")
        return bool(passed)

    def to_json(self) -> dict[str, Any]:
        """The report.json document."""
        return {
            "scenario": self.scenario,
            "mode": self.mode,
            "seed": self.seed,
            "result": "pass" if self.passed else "fail",
            "error": self.error,
            "ended_early": None
            if self.ended_early is None
            else {"at_s": self.ended_early[0], "duration_s": self.ended_early[1]},
            "bus_start": utc(self.bus_start),
            "figures": self.figures,
            "cfdp": self.cfdp,
            "checks": [asdict(c) for c in self.checks],
            "jobs": self.jobs,
            "timeline": self.timeline,
        }

    def write(self, out_dir: Path, tm: bytes, tc: bytes) -> None:
        """Write report.json, tm.bin and tc.bin into out_dir."""
        (out_dir / "tm.bin").write_bytes(tm)
        (out_dir / "tc.bin").write_bytes(tc)
        (out_dir / "report.json").write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def summary(self, out_dir: Path) -> str:
        """A short human summary of the run."""
        judged = self.judged
        lines = [
            f"HIL scenario '{self.scenario}' ({self.mode}): "
            f"{'PASS' if self.passed else 'FAIL'}, "
            f"{sum(bool(c.passed) for c in judged)}/{len(judged)} checks passed"
            + (
                f", {len(self.checks) - len(judged)} not reached"
                if len(judged) < len(self.checks)
                else ""
            )
        ]
        if self.ended_early is not None:
            ran, whole = self.ended_early
            lines.append(f"  ended early at bus second {ran:g} of {whole:g} (--until)")
        lines += [f"  {c.outcome}  {c.name}: {c.detail}" for c in self.checks]
        if self.error:
            lines.append(f"  error: {self.error}")
        for job in self.jobs:
            began, ended = job.get("started_at"), job.get("ended_at")
            ran = ended - began if ended is not None and began is not None else None  # cancelled
            # while waiting: it never began
            lines.append(
                f"  job {job['id']}: {job['state']}, exit {job['exit_code']}"
                + (f", ran {ran:.0f} bus s" if ran is not None else "")
            )
        f = self.figures
        lines.append(
            f"  {f.get('sim_seconds', 0):.0f} bus s in {f.get('wall_seconds', 0):.1f} wall s; "
            f"serial link: {f.get('tc_packets', 0)} TC and {f.get('tm_packets', 0)} TM "
            f"packets, {f.get('tm_bad', 0)} bad"
        )
        lines += summary_lines(self.cfdp)
        lines.append(f"  report: {out_dir / 'report.html'} (plots); {out_dir / 'report.json'}")
        return "\n".join(lines)
