"""A simulated H100 SXM: power, clocks and temperature against the radiator's sink temperature,
thermal slowdown and shutdown, ECC counters and Xid events, stepped in bus time.

Model values (docs/gpu.md): power limit 200-700 W (default 700 W), idle about 70 W, slowdown
near 87 C and shutdown near 92 C; the GPU and its cold plate are one thermal mass that reaches
sink + power x thermal resistance with a time constant. A workload asks for a utilisation; the
power drawn is what it needs, capped by the limit and cut further by thermal slowdown. Work done
runs in proportion to the power above idle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flight.gpu.backend import (
    H100_MEMORY_MIB,
    REASON_HW_SLOWDOWN,
    REASON_SW_POWER_CAP,
    REASON_SW_THERMAL,
    XID_DOUBLE_BIT_ECC,
    XID_FALLEN_OFF_BUS,
    GpuError,
    GpuLost,
    GpuReading,
)


@dataclass(frozen=True)
class H100Model:
    """The simulated card's figures."""

    limit_min_w: float = 200.0
    limit_max_w: float = 700.0
    idle_w: float = 70.0
    peak_w: float = 700.0  # what a full workload would draw with no cap
    slowdown_c: float = 87.0
    shutdown_c: float = 92.0
    recover_c: float = 84.0  # slowdown ends below this
    thermal_resistance_c_per_w: float = 0.15  # to the radiator sink
    time_constant_s: float = 120.0
    max_clock_mhz: int = 1980
    memory_total_mib: int = H100_MEMORY_MIB
    corrected_ecc_per_hour: float = 0.0  # radiation background (bench sets it)


class SimulatedH100:
    """The simulated card's state, stepped in bus time by the controller's tick."""

    name = "Simulated NVIDIA H100 80GB HBM3"

    def __init__(self, model: H100Model | None = None, start_c: float = 20.0) -> None:
        self.model = model or H100Model()
        self.locked_clocks: tuple[int, int] | None = None
        self.power_limit_w = self.model.limit_max_w
        self.temperature_c = start_c
        self.power_w = self.model.idle_w
        self.utilization = 0.0
        self.throttle = 1.0  # fraction of the capped power thermal slowdown lets through
        self.reasons = 0
        self.lost = False
        self.off = False  # the supply is switched off
        self.ecc_corrected = 0
        self.ecc_uncorrected = 0
        self.remapped_rows = 0
        self.memory_used_mib = 0
        self._exposure_s = 0.0  # bus seconds powered, for the radiation background
        self._background_errors = 0
        self._xids: list[int] = []

    # --- the controller's side
    def read(self) -> GpuReading:
        """Everything, now; GpuLost once the GPU has fallen off the bus."""
        self._alive()
        m = self.model
        busy = (self.power_w - m.idle_w) / max(m.peak_w - m.idle_w, 1.0)
        xids, self._xids = tuple(self._xids), []
        return GpuReading(
            power_w=self.power_w,
            power_limit_w=self.power_limit_w,
            limit_min_w=m.limit_min_w,
            limit_max_w=m.limit_max_w,
            temperature_c=self.temperature_c,
            slowdown_c=m.slowdown_c,
            shutdown_c=m.shutdown_c,
            sm_clock_mhz=self._clock(busy),
            clock_event_reasons=self.reasons,
            utilization_pct=round(100 * self.utilization),
            memory_used_mib=self.memory_used_mib,
            memory_total_mib=m.memory_total_mib,
            ecc_corrected=self.ecc_corrected,
            ecc_uncorrected=self.ecc_uncorrected,
            remapped_rows=self.remapped_rows,
            xids=xids,
        )

    def _clock(self, busy: float) -> int:
        clock = int(self.model.max_clock_mhz * min(1.0, 0.3 + 0.7 * busy)) if busy > 0 else 345
        if self.locked_clocks is not None:
            clock = max(self.locked_clocks[0], min(self.locked_clocks[1], clock))
        return clock

    def lock_clocks(self, min_mhz: int, max_mhz: int) -> None:
        """Lock the SM clock to a range within the card's."""
        self._alive()
        if not 0 < min_mhz <= max_mhz <= self.model.max_clock_mhz:
            raise GpuError(f"clock range {min_mhz}-{max_mhz} MHz not within the card's")
        self.locked_clocks = (min_mhz, max_mhz)

    def reset_clocks(self) -> None:
        """Let the clock float again."""
        self._alive()
        self.locked_clocks = None

    def _alive(self) -> None:
        if self.lost or self.off:
            raise GpuLost("the GPU has fallen off the bus (Xid 79)" if self.lost else "no power")

    def set_power_limit(self, watts: float) -> None:
        """Enforce a power limit; GpuError outside [200, 700] W, GpuLost when gone."""
        self._alive()
        m = self.model
        if not m.limit_min_w <= watts <= m.limit_max_w:
            raise GpuError(f"power limit {watts:g} W outside {m.limit_min_w:g}-{m.limit_max_w:g} W")
        self.power_limit_w = float(watts)

    # --- time and work
    def step(self, seconds: float, sink_c: float, utilization: float) -> float:
        """Advance ``seconds`` with the radiator sink at ``sink_c`` and a workload asking for
        ``utilization`` (0 to 1); returns the work done, in seconds of full-power work."""
        m = self.model
        if self.lost or self.off:
            self.power_w = 0.0
            self.temperature_c = sink_c + (self.temperature_c - sink_c) * math.exp(
                -seconds / m.time_constant_s
            )
            return 0.0
        self.utilization = max(0.0, min(1.0, utilization))
        demand = m.idle_w + self.utilization * (m.peak_w - m.idle_w)
        reasons = REASON_SW_POWER_CAP if demand > self.power_limit_w else 0
        if self.temperature_c >= m.slowdown_c:
            self.throttle = max(0.2, self.throttle - 0.1 * seconds)
        elif self.temperature_c < m.recover_c:
            self.throttle = min(1.0, self.throttle + 0.05 * seconds)
        if self.throttle < 1.0:
            reasons |= REASON_SW_THERMAL | REASON_HW_SLOWDOWN
        capped = min(demand, self.power_limit_w)
        self.power_w = m.idle_w + (capped - m.idle_w) * self.throttle
        self.reasons = reasons
        target = sink_c + self.power_w * m.thermal_resistance_c_per_w
        self.temperature_c = target + (self.temperature_c - target) * math.exp(
            -seconds / m.time_constant_s
        )
        if self.temperature_c >= m.shutdown_c:
            self._fall_off_bus()
        self._radiation(seconds)
        return seconds * (self.power_w - m.idle_w) / (m.peak_w - m.idle_w)

    def _radiation(self, seconds: float) -> None:
        self._exposure_s += seconds
        due = int(self._exposure_s * self.model.corrected_ecc_per_hour / 3600.0 + 1e-9)
        self.ecc_corrected += due - self._background_errors
        self._background_errors = due

    def _fall_off_bus(self) -> None:
        self.lost = True
        self.power_w = 0.0
        self._xids.append(XID_FALLEN_OFF_BUS)

    # --- faults the bench injects
    def inject(self, fault: str, count: int = 1) -> None:
        """ecc_corrected, ecc_uncorrected (Xid 48 and a remapped row), lost (Xid 79), or
        overheat (the card jumps to its slowdown temperature)."""
        if fault == "ecc_corrected":
            self.ecc_corrected += count
        elif fault == "ecc_uncorrected":
            self.ecc_uncorrected += count
            self.remapped_rows += count
            self._xids.extend([XID_DOUBLE_BIT_ECC] * count)
        elif fault == "lost":
            self._fall_off_bus()
        elif fault == "overheat":
            self.temperature_c = max(self.temperature_c, self.model.slowdown_c)
        else:
            raise ValueError(f"unknown GPU fault {fault!r}")

    def power_off(self) -> None:
        """The supply is switched off: no power, no answers."""
        self.off = True
        self.power_w = 0.0

    def power_restored(self) -> None:
        """The supply is back: the card starts at the default limit and floating clocks,
        counters kept."""
        self.lost = self.off = False
        self.locked_clocks = None
        self.power_limit_w = self.model.limit_max_w
        self.throttle = 1.0
        self.power_w = self.model.idle_w
