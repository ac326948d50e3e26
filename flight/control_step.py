"""One second of control, on each bus tick: the GPU's last second and its reading, the governor's
decision from the bus's power and thermal state, the GPU's supply asked of the bus, and then the
jobs (suspended, stepped, or one started by the scheduler)."""

from __future__ import annotations

from typing import Any

from flight import dictionary as d
from flight.downlink.results import ResultsDownlink
from flight.governor import BusState, Governor
from flight.gpu.fault_channel import FaultChannel
from flight.gpu.monitor import GpuMonitor
from flight.jobs.runner import JobRunner
from flight.onboard_clock import OnboardClock
from flight.reports import Reports
from flight.safe_mode import SafeMode
from flight.scheduler import Scheduler
from flight.events import EV


def bus_state_unknown() -> dict[str, Any]:
    """The bus's state before its first tick: no power, nothing predicted."""
    return {
        "power_allowance_w": 0.0,
        "battery_soc": 0.0,
        "sink_temp_c": 0.0,
        "sunlit": 0,
        "eclipse_in_s": d.NONE_AHEAD,
        "eclipse_s": 0,
        "link_in_s": d.NONE_AHEAD,
    }


class ControlStep:
    """The per-second control of the GPU and the jobs."""

    def __init__(
        self,
        clock: OnboardClock,
        reports: Reports,
        gpu: GpuMonitor,
        faults: FaultChannel | None,
        governor: Governor,
        safe: SafeMode,
        runner: JobRunner,
        results: ResultsDownlink,
    ) -> None:
        self.clock = clock
        self.reports = reports
        self.gpu = gpu
        self.faults = faults
        self.governor = governor
        self.safe = safe
        self.runner = runner
        self.results = results
        self.scheduler = Scheduler(
            governor.config.eclipse_predictions, governor.config.checkpoint_lead_s
        )
        self.bus_state = bus_state_unknown()  # as the latest tick gave it
        self.mode = d.GovernorMode.NO_GPU

    def second(self) -> None:
        """One second of control (StoreError when the job store cannot record a change)."""
        now = self.clock.time
        if self.faults is not None:
            self.faults.apply_pending()
        bus = self.bus()
        work = self.gpu.step(1.0, bus.sink_c, 1.0 if self.runner.gpu_busy else 0.0)
        status = self.gpu.read()
        events = self.gpu.take_events()
        job = self.runner.running
        if status.lost or status.new_uncorrected:
            why = "the GPU is lost" if status.lost else "uncorrectable GPU memory error"
            events += self.runner.gpu_fault(now, why, suspect=status.new_uncorrected)
        if status.lost:
            decision = self.governor.safe("the GPU is lost: power cycle requested")
        elif self.gpu.backend is not None and not self.gpu.powered:
            decision = self.governor.off()
        elif self.safe.active:
            decision = self.governor.safe_mode(status.reading, f"safe mode: {self.safe.reason}")
        else:
            policy = job.spec.checkpoint if job is not None else None
            lead = policy.cost_s if policy is not None else None
            decision = self.governor.control(bus, status.reading, lead)
        if decision.limit_w is not None:
            self.gpu.set_power_limit(decision.limit_w)
        if not decision.may_run:
            self.runner.suspend(now, decision.reason)
        self._switch_gpu(bus)
        events += self.gpu.take_events()
        if decision.mode != self.mode:
            self.mode = decision.mode
            events.append(EV.GOVERNOR_MODE(mode=int(decision.mode), reason=decision.reason))
        self.reports.events(events)
        eclipse_stops_gpu = self.governor.eclipse_stops_gpu(status.reading)
        self.scheduler.checkpoint_lead_s = self.governor.config.checkpoint_lead_s  # its table's
        self.reports.events(
            self.results.queued_after(
                self.runner.step(
                    now,
                    decision.may_run and not self.safe.active,  # entered just now: no start
                    work,
                    lambda jobs: self.scheduler.choose(jobs, now, bus, eclipse_stops_gpu),
                )
            )
        )

    def _switch_gpu(self, bus: BusState) -> None:
        """Ask the bus to switch the GPU off when even its idle draw is too much, and on when
        there is work and power for it."""
        if self.gpu.backend is None or self.gpu.lost:
            return
        job_running = self.runner.running is not None
        want = self.governor.power_wanted(
            bus, self.gpu.powered, job_running, self.runner.queued > 0
        )
        if want and not self.gpu.powered:
            self.gpu.request(d.GpuPower.ON, f"allowance {bus.allowance_w:.0f} W: jobs can run")
        elif not want and self.gpu.powered:
            self.gpu.request(
                d.GpuPower.OFF, f"allowance {bus.allowance_w:.0f} W: not enough for an idle GPU"
            )

    def bus(self) -> BusState:
        """The bus's state as the governor takes it."""
        b = self.bus_state
        return BusState(
            allowance_w=b["power_allowance_w"],
            sink_c=b["sink_temp_c"],
            sunlit=bool(b["sunlit"]),
            eclipse_in_s=b["eclipse_in_s"],
            eclipse_s=b["eclipse_s"],
        )
