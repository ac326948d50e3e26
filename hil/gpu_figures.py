"""What a bench run says about the GPU and the work it did: the power limit against the
allowance, temperatures against their limit, suspensions, and the scenario's workload done by
its deadlines. A bus listener; its figures go into report.json and its series into report.html.
While the GPU gives no reading (off, lost) its values are not valid: NaN in the series (a gap
in the plots), left out of the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flight.dictionary import GovernorMode, JobState
from flight.protocol.messages import DecodedTelemetry

DAY_S = 86_400.0


def _highest(series: list[float]) -> float | None:
    """The highest valid value of a series, or None when none was valid."""
    valid = [x for x in series if not math.isnan(x)]
    return round(max(valid), 2) if valid else None


@dataclass
class GpuTrack:
    """Follows housekeeping and job events through a run."""

    start: float
    times: list[float] = field(default_factory=list)
    power_w: list[float] = field(default_factory=list)
    limit_w: list[float] = field(default_factory=list)
    temp_c: list[float] = field(default_factory=list)
    governor_mode: list[int] = field(default_factory=list)
    slowdown_c: float = 0.0
    over_allowance: int = 0  # ticks a job ran with the limit above an allowance it could follow
    over_allowance_longest: int = 0
    suspended_ticks: int = 0  # the allowance below what the GPU can be limited to
    thermal_ticks: int = 0  # the thermal cap below the power budget
    stopping_longest: int = 0  # longest a job went on (checkpointing) after suspension began
    temp_over_limit: int = 0
    energy_j: float = 0.0
    workload: dict[str, tuple[float, float | None]] = field(default_factory=dict)  # work, deadline
    workload_rejected: int = 0
    completed_at: dict[str, float] = field(default_factory=dict)
    _streak: int = 0
    _stopping: int = 0

    def update(self, tm: DecodedTelemetry) -> None:
        """A bus listener: takes every packet."""
        if tm.name == "JOB_COMPLETED":
            self.completed_at[tm.values["job_id"]] = tm.packet.time
        if tm.name != "HOUSEKEEPING" or "gpu_limit_w" not in tm.values:
            return
        v = tm.values
        self.times.append(tm.packet.time - self.start)
        valid = v["gpu_valid"]
        self.power_w.append(v["gpu_power_w"] if valid else math.nan)
        self.limit_w.append(v["gpu_limit_w"] if valid else math.nan)
        self.temp_c.append(v["gpu_temp_c"] if valid else math.nan)
        self.governor_mode.append(v["governor_mode"])
        if valid:
            self.slowdown_c = max(self.slowdown_c, v["gpu_slowdown_c"])
            self.energy_j += v["gpu_power_w"]
            if v["gpu_slowdown_c"] and v["gpu_temp_c"] >= v["gpu_slowdown_c"]:
                self.temp_over_limit += 1
        running = v["job_state"] == JobState.RUNNING
        suspended = v["governor_mode"] == GovernorMode.SUSPENDED
        self.suspended_ticks += suspended
        self.thermal_ticks += v["governor_mode"] == GovernorMode.THERMAL_LIMITED
        self._stopping = self._stopping + 1 if running and suspended else 0
        self.stopping_longest = max(self.stopping_longest, self._stopping)
        limit = v["gpu_limit_w"] if valid else 0.0  # a GPU off draws nothing
        if running and not suspended and limit > v["power_allowance_w"] + 1e-3:
            self.over_allowance += 1
            self._streak += 1
            self.over_allowance_longest = max(self.over_allowance_longest, self._streak)
        else:
            self._streak = 0

    def submitted(self, job_id: str, work_s: float, deadline: float | None) -> None:
        """A workload job the bench submitted."""
        self.workload[job_id] = (work_s, deadline)

    def figures(self, duration_s: float) -> dict[str, float | int]:
        """The run's GPU and workload figures."""
        on_time = {
            job: work
            for job, (work, deadline) in self.workload.items()
            if job in self.completed_at and (deadline is None or self.completed_at[job] <= deadline)
        }
        per_day = DAY_S / max(duration_s, 1.0)
        return {
            "gpu_limit_above_allowance_ticks": self.over_allowance,
            "gpu_limit_above_allowance_longest": self.over_allowance_longest,
            "governor_suspended_ticks": self.suspended_ticks,
            "governor_thermal_limited_ticks": self.thermal_ticks,
            "job_running_while_suspended_longest": self.stopping_longest,
            "gpu_temp_max_c": _highest(self.temp_c),
            "gpu_temp_limit_c": self.slowdown_c,
            "gpu_temp_over_limit_ticks": self.temp_over_limit,
            "gpu_energy_wh": round(self.energy_j / 3600.0, 1),
            "workload_jobs": len(self.workload),
            "workload_rejected": self.workload_rejected,
            "workload_completed": sum(job in self.completed_at for job in self.workload),
            "workload_done_by_deadline": len(on_time),
            "work_done_by_deadline_s": round(sum(on_time.values()), 1),
            "work_done_by_deadline_per_day_s": round(sum(on_time.values()) * per_day, 1),
        }
