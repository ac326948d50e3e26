"""The power and thermal governor: once per bus second, from the bus's allowance and predictions
and the GPU's reading, the GPU power limit to enforce and whether a job may run.

Rules (docs/governor.md): the GPU's budget is the allowance less the payload computer's own
draw; the limit follows the budget down at once and up only past a hysteresis band; a thermal cap
keeps the GPU below its slowdown threshold less a margin (a feed-forward from the radiator sink
temperature and the design thermal resistance, corrected by the measured temperature); when the
budget is below the GPU's minimum limit the running job is checkpointed and suspended until the
budget is back with a margin. With eclipse predictions, a job that cannot run through the coming
eclipse is checkpointed and suspended just before it rather than at it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from flight.dictionary import NONE_AHEAD, GovernorMode
from flight.gpu.backend import GpuReading
from flight.tables.store import shipped_table


@dataclass(frozen=True)
class GovernorConfig:
    """The governor's settings: its table (a flight team tunes these per spacecraft; the image
    ships flight/tables/shipped/governor.toml, TABLE_LOAD replaces it) and whether it uses the
    bus's eclipse predictions (a start option)."""

    overhead_w: float  # the payload computer's own draw, if the allowance must carry it
    gpu_idle_w: float  # what a powered, idle GPU draws (H100 SXM)
    hysteresis_w: float  # the limit rises only when the target is this far above it
    resume_margin_w: float  # budget above the minimum limit needed to resume
    thermal_margin_c: float  # kept below the slowdown threshold
    thermal_resistance_c_per_w: float  # GPU to radiator sink, the design figure
    thermal_gain_w_per_c: float  # limit taken off per degree above the thermal target
    checkpoint_lead_s: float  # extra time asked before an eclipse, beyond the job's cost
    eclipse_predictions: bool = True

    @classmethod
    def shipped(cls, **changes: Any) -> GovernorConfig:
        """The table the image ships, with ``changes``."""
        return cls(**shipped_table("governor") | changes)


@dataclass(frozen=True)
class BusState:
    """What the bus said in its last tick, as the governor uses it."""

    allowance_w: float
    sink_c: float
    sunlit: bool
    eclipse_in_s: int
    eclipse_s: int


@dataclass(frozen=True)
class Decision:
    """The governor's output for one second."""

    mode: GovernorMode
    limit_w: float | None  # the limit to enforce (None: leave it)
    may_run: bool  # a job may run (or start)
    reason: str  # why, in words (for the mode change event)


class Governor:
    """The control law, with its memory: the enforced limit, suspension, eclipse allowance."""

    def __init__(self, config: GovernorConfig | None = None) -> None:
        self.config = config or GovernorConfig.shipped()
        self.limit_w: float | None = None
        self.suspended = False
        self.eclipse_allowance_w: float | None = None  # lowest allowance seen in the last eclipse
        self.limit_min_w = 200.0  # the GPU's lowest limit, as last read (an H100's until then)
        self._in_eclipse = False
        self._eclipse_low = 0.0

    def configure(self, table: dict[str, Any]) -> None:
        """A new governor table, in use from the next bus second."""
        self.config = replace(self.config, **table)

    def budget_w(self, bus: BusState) -> float:
        """What the GPU may draw."""
        return bus.allowance_w - self.config.overhead_w

    def thermal_cap_w(self, bus: BusState, gpu: GpuReading) -> float:
        """The highest power that keeps the GPU at its thermal target."""
        c = self.config
        target_c = gpu.slowdown_c - c.thermal_margin_c
        steady = (target_c - bus.sink_c) / c.thermal_resistance_c_per_w
        return steady - c.thermal_gain_w_per_c * max(0.0, gpu.temperature_c - target_c)

    def control(self, bus: BusState, gpu: GpuReading | None, lead_s: float | None) -> Decision:
        """One second's decision. ``lead_s``: how long the running job needs to checkpoint
        (None when no job runs or it cannot checkpoint)."""
        self._learn_eclipse(bus)
        if gpu is None:
            return Decision(GovernorMode.NO_GPU, None, True, "no GPU")
        self.limit_min_w = gpu.limit_min_w
        budget = self.budget_w(bus)
        thermal = self.thermal_cap_w(bus, gpu)
        floor = gpu.limit_min_w + (self.config.resume_margin_w if self.suspended else 0.0)
        if budget < floor:
            return self._suspend(
                gpu, f"budget {budget:.0f} W below the GPU's minimum {gpu.limit_min_w:.0f} W"
            )
        if thermal < floor:
            return self._suspend(
                gpu, f"thermal cap {thermal:.0f} W below the GPU's minimum {gpu.limit_min_w:.0f} W"
            )
        if self._eclipse_ahead(bus, gpu, lead_s):
            return self._suspend(gpu, f"eclipse in {bus.eclipse_in_s} s: checkpoint before it")
        self.suspended = False
        target = min(budget, thermal, gpu.limit_max_w)
        if target >= gpu.limit_max_w:
            mode, why = GovernorMode.NOMINAL, "the GPU may draw its maximum"
        elif thermal < budget:
            mode, why = GovernorMode.THERMAL_LIMITED, f"thermal cap {thermal:.0f} W"
        else:
            mode, why = GovernorMode.POWER_LIMITED, f"budget {budget:.0f} W"
        return self._decide(mode, self._with_hysteresis(target, gpu), True, why)

    def _with_hysteresis(self, target: float, gpu: GpuReading) -> float:
        current = self.limit_w if self.limit_w is not None else gpu.power_limit_w
        if (
            target < current
            or target >= gpu.limit_max_w
            or target > current + self.config.hysteresis_w
        ):
            return max(gpu.limit_min_w, min(gpu.limit_max_w, target))
        return current

    def _suspend(self, gpu: GpuReading, why: str) -> Decision:
        self.suspended = True
        return self._decide(GovernorMode.SUSPENDED, gpu.limit_min_w, False, why)

    def _decide(self, mode: GovernorMode, limit: float, may_run: bool, why: str) -> Decision:
        changed = limit != self.limit_w
        self.limit_w = limit
        return Decision(mode, limit if changed else None, may_run, why)

    def power_wanted(
        self, bus: BusState, powered: bool, job_running: bool, jobs_waiting: bool
    ) -> bool:
        """Whether the GPU should be powered: off when the budget cannot carry even an idle GPU
        and no job runs; on again when there is work and budget to run it."""
        budget = self.budget_w(bus)
        if powered:
            return job_running or budget >= self.config.gpu_idle_w
        return jobs_waiting and budget >= self.limit_min_w + self.config.resume_margin_w

    def off(self) -> Decision:
        """The GPU's supply is off."""
        self.limit_w = None
        return Decision(GovernorMode.GPU_OFF, None, False, "the GPU is switched off")

    def safe(self, why: str) -> Decision:
        """A GPU fault: nothing runs until it is cleared."""
        return Decision(GovernorMode.SAFE, None, False, why)

    def safe_mode(self, gpu: GpuReading | None, why: str) -> Decision:
        """Safe mode: nothing runs, the GPU held at its lowest limit."""
        if gpu is None:
            return Decision(GovernorMode.SAFE, None, False, why)
        self.limit_min_w = gpu.limit_min_w
        return self._decide(GovernorMode.SAFE, gpu.limit_min_w, False, why)

    def forget_limit(self) -> None:
        """The GPU was power-cycled: its limit is back at the default, set it again."""
        self.limit_w = None

    def _learn_eclipse(self, bus: BusState) -> None:
        if not bus.sunlit:
            low = (
                bus.allowance_w if not self._in_eclipse else min(self._eclipse_low, bus.allowance_w)
            )
            self._in_eclipse, self._eclipse_low = True, low
        elif self._in_eclipse:
            self._in_eclipse, self.eclipse_allowance_w = False, self._eclipse_low

    def _eclipse_ahead(self, bus: BusState, gpu: GpuReading, lead_s: float | None) -> bool:
        """An eclipse the running job cannot run through is closer than its checkpoint lead."""
        if not self.config.eclipse_predictions or lead_s is None or not bus.sunlit:
            return False
        if (
            bus.eclipse_in_s == NONE_AHEAD
            or bus.eclipse_in_s > lead_s + self.config.checkpoint_lead_s
        ):
            return False
        return self.eclipse_stops_gpu(gpu)

    def eclipse_stops_gpu(self, gpu: GpuReading | None) -> bool:
        """The next eclipse's allowance (as low as the last one's; nothing, before one has been
        seen) will be too little for the GPU's minimum limit."""
        if gpu is None:
            return False
        expected = self.eclipse_allowance_w if self.eclipse_allowance_w is not None else 0.0
        return expected - self.config.overhead_w < gpu.limit_min_w
