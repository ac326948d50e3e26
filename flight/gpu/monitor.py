"""The controller's view of its GPU: one reading per bus second, and every GPU failure turned
into an event and a state (denied control, lost, uncorrectable ECC) instead of an exception.

The governor and the runner act on what this reports; nothing else calls the backend.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from flight.dictionary import GpuControl, GpuPower
from flight.events import EV, Event
from flight.gpu.backend import (
    REASON_HW_SLOWDOWN,
    REASON_HW_THERMAL,
    REASON_SW_THERMAL,
    XID_FALLEN_OFF_BUS,
    GpuBackend,
    GpuError,
    GpuLost,
    GpuPermissionError,
    GpuReading,
)


# clock event reasons of a GPU slowing itself down (the power cap is the governor's own doing)
SELF_PROTECTION = REASON_SW_THERMAL | REASON_HW_THERMAL | REASON_HW_SLOWDOWN


@dataclass
class GpuStatus:
    """What one second's reading found."""

    reading: GpuReading | None  # None: no GPU, or it is lost
    new_uncorrected: bool = False  # uncorrectable ECC errors since the last reading
    lost: bool = False


class GpuMonitor:
    """Reads the GPU and carries out the governor's settings."""

    def __init__(self, backend: GpuBackend | None, kind: str) -> None:
        self.backend = backend
        self.kind = kind
        self.control = GpuControl.FULL if backend is not None else GpuControl.NONE
        self.lost = False
        self.powered = backend is not None
        self.requested: GpuPower | None = None  # asked of the bus, not yet answered
        self.reading: GpuReading | None = None
        self._uncorrected: int | None = None
        self._events: list[Event] = []

    def started(self) -> list[Event]:
        """The event naming the backend in use."""
        device = self.backend.name if self.backend is not None else ""
        return [EV.GPU_BACKEND(backend=self.kind, device=device)]

    def take_events(self) -> list[Event]:
        """Events since the last call."""
        events, self._events = self._events, []
        return events

    def step(self, seconds: float, sink_c: float, utilization: float) -> float:
        """Let the GPU pass ``seconds`` of bus time; the modelled work done."""
        if self.backend is None:
            return 0.0
        return self.backend.step(seconds, sink_c, utilization if self.powered else 0.0)

    def read(self) -> GpuStatus:
        """Read everything; a lost GPU asks the bus for a power cycle (once)."""
        if self.backend is None or self.lost or not self.powered:
            return GpuStatus(None, lost=self.lost)
        try:
            reading = self.backend.read()
        except GpuLost as exc:
            return self._lose(str(exc))
        except GpuError as exc:
            self._events.append(EV.GPU_ERROR(operation="read", reason=str(exc)))
            return GpuStatus(self.reading)
        protecting = reading.clock_event_reasons & SELF_PROTECTION
        if protecting and not (self.reading and self.reading.clock_event_reasons & SELF_PROTECTION):
            self._events.append(EV.GPU_THROTTLED(reasons=reading.clock_event_reasons))
        self.reading = reading
        for xid in reading.xids:
            self._events.append(EV.GPU_XID(xid=xid))
        if XID_FALLEN_OFF_BUS in reading.xids:
            return self._lose("Xid 79: the GPU has fallen off the bus")
        new_uncorrected = (
            self._uncorrected is not None and reading.ecc_uncorrected > self._uncorrected
        )
        self._uncorrected = reading.ecc_uncorrected
        if new_uncorrected:
            self._events.append(EV.GPU_ECC_UNCORRECTED(count=reading.ecc_uncorrected))
        return GpuStatus(reading, new_uncorrected=new_uncorrected)

    def _lose(self, reason: str) -> GpuStatus:
        self.lost, self.reading = True, None
        self.request(GpuPower.CYCLE, reason)
        return GpuStatus(None, lost=True)

    def request(self, action: GpuPower, reason: str) -> None:
        """Ask the bus to switch the GPU's supply (once, until it answers)."""
        if self.backend is not None and self.requested is None:
            self.requested = action
            self._events.append(EV.GPU_POWER_REQUEST(action=action, reason=reason))

    def power_state(self, on: bool) -> None:
        """The bus has switched the GPU's supply."""
        if self.backend is None:
            return
        if self.requested is not GpuPower.CYCLE or on:
            self.requested = None
        if on:
            self._power_restored()
        else:
            self.powered, self.reading = False, None
            self.backend.power_off()

    def _power_restored(self) -> None:
        self.powered = True
        try:
            self.backend.power_restored()
            self.reading = self.backend.read()
        except GpuError as exc:
            self._events.append(EV.GPU_ERROR(operation="power restored", reason=str(exc)))
            return
        self.lost = False
        self._uncorrected = self.reading.ecc_uncorrected
        self._events.append(EV.GPU_RECOVERED(device=self.backend.name))
        if self.control is GpuControl.DENIED:
            self.control = GpuControl.FULL  # ask again: the next refusal is reported again

    def set_power_limit(self, watts: float) -> None:
        """Set the power limit; when it cannot be: an event (a refusal only the first time)."""
        if self.backend is None or self.lost or self.control is GpuControl.DENIED:
            return
        try:
            self.backend.set_power_limit(watts)
        except GpuPermissionError as exc:
            self.control = GpuControl.DENIED
            self._events.append(
                EV.GPU_PERMISSION_DENIED(operation="set power limit", reason=str(exc))
            )
            return
        except GpuLost as exc:
            self._lose(str(exc))
            return
        except GpuError as exc:
            self._events.append(EV.GPU_ERROR(operation="set power limit", reason=str(exc)))
            return
        if self.reading is not None:
            self.reading = dataclasses.replace(self.reading, power_limit_w=watts)
