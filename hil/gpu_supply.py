"""The bus's switch on the GPU's supply: the payload asks (GPU_POWER_REQUEST) and the bus switches
at the next second, a cycle being off and on again ``cycle_s`` later; each switch is told to the
payload with GPU_POWER_STATE."""

from __future__ import annotations

from collections.abc import Callable

from flight import dictionary as d

GPU_POWER_CYCLE_S = 10  # bus seconds the GPU's supply stays off when the payload asks a cycle


class GpuSupply:
    """The switch, and what it has done."""

    def __init__(self, tell: Callable[[bool], None], cycle_s: int = GPU_POWER_CYCLE_S) -> None:
        self.tell = tell  # sends GPU_POWER_STATE with the supply's new state
        self.cycle_s = cycle_s
        self.power_cycles = 0
        self.switched_off = 0
        self._due: list[tuple[int, bool]] = []  # (seconds from now, on) the bus will do

    def request(self, action: d.GpuPower) -> None:
        """The payload's request, carried out from the next second."""
        if action is d.GpuPower.CYCLE:
            self.power_cycles += 1
            self._due += [(1, False), (1 + self.cycle_s, True)]
        else:
            self.switched_off += action is d.GpuPower.OFF
            self._due.append((1, action is d.GpuPower.ON))

    def second(self) -> None:
        """Carry out the switching that is due this second, and tell the payload."""
        due = [on for left, on in self._due if left <= 1]
        self._due = [(left - 1, on) for left, on in self._due if left > 1]
        for on in due:
            self.tell(on)
