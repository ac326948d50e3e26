"""The NVML backend: a real NVIDIA GPU through nvidia-ml-py (NVIDIA's own binding of NVML).

Setting the power limit needs root; when NVML says no, the controller is told in words
(GpuPermissionError) and reports it, never fails silently. Xid events are read from an NVML
event set without blocking.
"""

from __future__ import annotations

from typing import Any

from flight.gpu.backend import GpuError, GpuLost, GpuPermissionError, GpuReading

MIB = 1 << 20


class NvmlGpu:
    """One GPU by its NVML index."""

    def __init__(self, index: int = 0) -> None:
        import pynvml  # only on machines with the NVIDIA driver

        self.nvml: Any = pynvml
        pynvml.nvmlInit()
        self.index = index
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.name = str(pynvml.nvmlDeviceGetName(self.handle))
        self.slowdown_c = float(
            pynvml.nvmlDeviceGetTemperatureThreshold(
                self.handle, pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
            )
        )
        self.shutdown_c = float(
            pynvml.nvmlDeviceGetTemperatureThreshold(
                self.handle, pynvml.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN
            )
        )
        self.events = pynvml.nvmlEventSetCreate()
        try:
            pynvml.nvmlDeviceRegisterEvents(
                self.handle, pynvml.nvmlEventTypeXidCriticalError, self.events
            )
        except pynvml.NVMLError_NotSupported:
            pynvml.nvmlEventSetFree(self.events)
            self.events = None

    def close(self) -> None:
        """Release NVML."""
        if self.events is not None:
            self.nvml.nvmlEventSetFree(self.events)
        self.nvml.nvmlShutdown()

    def read(self) -> GpuReading:
        """Everything, now; GpuLost if the GPU has fallen off the bus."""
        n, h = self.nvml, self.handle
        try:
            low, high = n.nvmlDeviceGetPowerManagementLimitConstraints(h)
            utilization = n.nvmlDeviceGetUtilizationRates(h)
            memory = n.nvmlDeviceGetMemoryInfo(h)
            corrected_rows, uncorrected_rows, _, _ = n.nvmlDeviceGetRemappedRows(h)
            return GpuReading(
                power_w=n.nvmlDeviceGetPowerUsage(h) / 1000.0,
                power_limit_w=n.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0,
                limit_min_w=low / 1000.0,
                limit_max_w=high / 1000.0,
                temperature_c=float(n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU)),
                slowdown_c=self.slowdown_c,
                shutdown_c=self.shutdown_c,
                sm_clock_mhz=int(n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM)),
                clock_event_reasons=int(n.nvmlDeviceGetCurrentClocksEventReasons(h)),
                utilization_pct=int(utilization.gpu),
                memory_used_mib=int(memory.used) // MIB,
                memory_total_mib=int(memory.total) // MIB,
                ecc_corrected=int(
                    n.nvmlDeviceGetTotalEccErrors(
                        h, n.NVML_MEMORY_ERROR_TYPE_CORRECTED, n.NVML_VOLATILE_ECC
                    )
                ),
                ecc_uncorrected=int(
                    n.nvmlDeviceGetTotalEccErrors(
                        h, n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, n.NVML_VOLATILE_ECC
                    )
                ),
                remapped_rows=int(corrected_rows) + int(uncorrected_rows),
                xids=self._xids(),
            )
        except n.NVMLError_GpuIsLost:
            raise GpuLost("NVML: the GPU is lost (fallen off the bus)") from None
        except n.NVMLError as exc:
            raise GpuError(f"NVML: {exc}") from None

    def _xids(self) -> tuple[int, ...]:
        if self.events is None:
            return ()
        found = []
        while True:
            try:
                event = self.nvml.nvmlEventSetWait_v2(self.events, 0)
            except self.nvml.NVMLError_Timeout:
                return tuple(found)
            found.append(int(event.eventData))

    def step(self, seconds: float, sink_c: float, utilization: float) -> float:
        """A real GPU passes its own time: nothing to do, no modelled work."""
        return 0.0

    def power_off(self) -> None:
        """The supply is off: let go of NVML until it is back."""
        self.close()

    def power_restored(self) -> None:
        """The supply is back: NVML is started afresh and the device found again."""
        self.__init__(self.index)

    def lock_clocks(self, min_mhz: int, max_mhz: int) -> None:
        """Lock the SM clock to [min_mhz, max_mhz] (nvmlDeviceSetGpuLockedClocks)."""
        self._privileged(
            "locking the GPU clocks", self.nvml.nvmlDeviceSetGpuLockedClocks, min_mhz, max_mhz
        )

    def reset_clocks(self) -> None:
        """Let the SM clock float again (nvmlDeviceResetGpuLockedClocks)."""
        self._privileged("resetting the GPU clocks", self.nvml.nvmlDeviceResetGpuLockedClocks)

    def _privileged(self, what: str, function: Any, *args: Any) -> None:
        n = self.nvml
        try:
            function(self.handle, *args)
        except n.NVMLError_NoPermission:
            raise GpuPermissionError(
                f"{what} needs root: the controller is not running as root"
            ) from None
        except n.NVMLError_GpuIsLost:
            raise GpuLost("NVML: the GPU is lost (fallen off the bus)") from None
        except n.NVMLError as exc:
            raise GpuError(f"NVML: {what}: {exc}") from None

    def set_power_limit(self, watts: float) -> None:
        """Enforce a power limit; GpuPermissionError without root, GpuError out of range."""
        n = self.nvml
        low, high = n.nvmlDeviceGetPowerManagementLimitConstraints(self.handle)
        if not low / 1000.0 <= watts <= high / 1000.0:
            raise GpuError(f"power limit {watts:g} W outside {low / 1000:g}-{high / 1000:g} W")
        self._privileged(
            "setting the GPU power limit",
            n.nvmlDeviceSetPowerManagementLimit,
            int(round(watts * 1000)),
        )
