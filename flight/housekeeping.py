"""Housekeeping assembly: the values of the one HOUSEKEEPING report a bus tick is answered with,
gathered from each part of the controller. The fields and their order are the dictionary's."""

from __future__ import annotations

from typing import Any

from flight import dictionary as d
from flight.commanding.admission import Admission
from flight.commanding.counters import Counters
from flight.control_step import ControlStep
from flight.downlink import Downlink
from flight.gpu.monitor import GpuMonitor
from flight.jobs.runner import JobRunner
from flight.onboard_clock import OnboardClock
from flight.safe_mode import SafeMode
from flight.tables.store import TableStore
from flight.telemetry import TelemetryWriter

GPU_HK_FIELDS = tuple(f.name for f in d.HK_FIELDS if f.valid_when == "gpu_valid")


class Housekeeping:
    """Reads the parts it is given; holds no state of its own."""

    def __init__(
        self,
        clock: OnboardClock,
        counters: Counters,
        admission: Admission,
        tm: TelemetryWriter,
        control: ControlStep,
        gpu: GpuMonitor,
        runner: JobRunner,
        safe: SafeMode,
        downlink: Downlink,
        tables: TableStore,
    ) -> None:
        self.clock = clock
        self.counters = counters
        self.admission = admission
        self.tm = tm
        self.control = control
        self.gpu = gpu
        self.runner = runner
        self.safe = safe
        self.downlink = downlink
        self.tables = tables

    def values(self) -> dict[str, Any]:
        """The values of the housekeeping report, now."""
        job = self.runner.current
        bus = {k: v for k, v in self.control.bus_state.items() if k != "eclipse_s"}
        return (
            self.counters.values()
            | bus
            | self._gpu()
            | {
                "sid": d.HK_SID,
                "uptime_s": self.clock.uptime_s,
                "ticks": self.clock.ticks,
                "frames_rx": self.admission.frames_rx,
                "frames_bad": self.admission.deframer.frames_bad,
                "tm_sent": self.tm.sent,
                "tm_dropped": self.tm.dropped,
                "jobs_queued": self.runner.queued,
                "jobs_completed": self.runner.completed,
                "jobs_failed": self.runner.failed,
                "job_state": int(job.state) if job else int(d.JobState.NONE),
                "job_elapsed_s": int(job.rec.run_s) if job else 0,
                "job_progress_pct": round(100 * job.rec.progress) if job else 0,
                "jobs_held": self.runner.held,
                "sdc_detected": self.runner.sdc_detected,
                "governor_mode": int(self.control.mode),
                "safe_mode": int(self.safe.active),
                "faults_recent": min(0xFFFF, self.safe.recent(self.clock.time)),
            }
            | self.downlink.housekeeping()
            | self.tables.housekeeping()
        )

    def _gpu(self) -> dict[str, Any]:
        """The GPU's fields: not valid (no value, gpu_valid 0) while there is no reading (no GPU,
        lost, off)."""
        r = self.gpu.reading
        values: dict[str, Any] = dict.fromkeys(GPU_HK_FIELDS)
        if r is not None:
            values = {
                "gpu_power_w": r.power_w,
                "gpu_limit_w": r.power_limit_w,
                "gpu_temp_c": r.temperature_c,
                "gpu_slowdown_c": r.slowdown_c,
                "gpu_sm_clock_mhz": r.sm_clock_mhz,
                "gpu_reasons": r.clock_event_reasons,
                "gpu_util_pct": min(100, r.utilization_pct),
                "gpu_mem_used_mib": r.memory_used_mib,
                "gpu_ecc_corrected": r.ecc_corrected,
                "gpu_ecc_uncorrected": r.ecc_uncorrected,
                "gpu_remapped_rows": min(0xFFFF, r.remapped_rows),
            }
        overhead = self.control.governor.config.overhead_w
        return values | {
            "gpu_valid": int(r is not None),
            "payload_power_w": (values["gpu_power_w"] or 0.0) + overhead,
            "gpu_control": int(self.gpu.control),
        }
