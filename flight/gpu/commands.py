"""The GPU's command: GPU_POWER_STATE, the bus telling the payload that it switched the GPU's
supply (the answer to the payload's own request, or the bus's own decision)."""

from __future__ import annotations

from typing import Any

from flight.commanding.dispatch import Handler, Handlers
from flight.governor import Governor
from flight.gpu.monitor import GpuMonitor
from flight.protocol.packets import Telecommand
from flight.reports import Reports


class GpuCommands:
    """The handler of the GPU's supply state."""

    def __init__(self, gpu: GpuMonitor, governor: Governor, reports: Reports) -> None:
        self.gpu = gpu
        self.governor = governor
        self.reports = reports

    def handlers(self) -> Handlers:
        """The GPU commands by name."""
        return {"GPU_POWER_STATE": Handler(self._power_state)}

    def _power_state(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        self.gpu.power_state(bool(args["on"]))
        self.governor.forget_limit()
        self.reports.events(self.gpu.take_events())
