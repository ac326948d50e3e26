"""The interface every GPU backend offers the controller, and what it reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# NVML clock-event ("throttle") reason bits (nvmlClocksEventReasons), the ones the controller uses.
H100_MEMORY_MIB = 81_559  # an H100 SXM's memory as NVML reports it
REASON_SW_POWER_CAP = 0x4
REASON_HW_SLOWDOWN = 0x8
REASON_SW_THERMAL = 0x20
REASON_HW_THERMAL = 0x40

XID_DOUBLE_BIT_ECC = 48
XID_FALLEN_OFF_BUS = 79


class GpuError(Exception):
    """The GPU refused or failed an operation."""


class GpuPermissionError(GpuError):
    """The operation needs privileges the controller does not have (setting limits needs root)."""


class GpuLost(GpuError):
    """The GPU is gone (Xid 79, fallen off the bus) until it is power-cycled."""


@dataclass(frozen=True)
class GpuReading:
    """One reading of everything the controller watches."""

    power_w: float
    power_limit_w: float
    limit_min_w: float
    limit_max_w: float
    temperature_c: float
    slowdown_c: float
    shutdown_c: float
    sm_clock_mhz: int
    clock_event_reasons: int
    utilization_pct: int
    memory_used_mib: int
    memory_total_mib: int
    ecc_corrected: int
    ecc_uncorrected: int
    remapped_rows: int
    xids: tuple[int, ...] = field(default_factory=tuple)  # since the last reading


class GpuBackend(Protocol):
    """What the controller needs of a GPU."""

    name: str  # the device's name

    def step(self, seconds: float, sink_c: float, utilization: float) -> float:
        """``seconds`` of bus time have passed with the radiator sink at ``sink_c`` and the
        running work asking for ``utilization``: the GPU work done, in full-power seconds (a
        model's figure; a real GPU passes its own time and returns 0)."""
        ...

    def read(self) -> GpuReading:
        """Everything, now; GpuLost if the GPU is gone."""
        ...

    def set_power_limit(self, watts: float) -> None:
        """Enforce a power limit within [limit_min_w, limit_max_w]; GpuPermissionError when
        not allowed, GpuError when out of range."""
        ...

    def lock_clocks(self, min_mhz: int, max_mhz: int) -> None:
        """Lock the SM clock to a range; GpuPermissionError when not allowed."""
        ...

    def reset_clocks(self) -> None:
        """Undo lock_clocks; GpuPermissionError when not allowed."""
        ...

    def power_off(self) -> None:
        """The bus has switched the GPU's supply off."""
        ...

    def power_restored(self) -> None:
        """The bus has switched the GPU's supply on again: start talking to it afresh."""
        ...
