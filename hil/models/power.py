"""The electrical power system (EPS): solar array, battery and bus loads, and the power allowance
the bus gives the payload every second.

The bus's rule: the battery never goes below its floor, sun or shade. In sunlight the payload gets
the array's surplus over the bus load less what the battery needs to be charged before the next
eclipse (enough to carry the bus load through it above the floor, plus a margin); in shadow it
gets the battery's energy above the floor and above what the bus needs for the rest of the
eclipse, spread evenly over the time left.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PowerConfig:
    """Sizes and settings of the EPS."""

    array_w: float = 450.0
    bus_load_w: float = 150.0
    battery_wh: float = 800.0
    floor: float = 0.30  # state of charge the battery must never go below
    soc_start: float = 0.80
    charge_efficiency: float = 0.95
    max_charge_w: float = 300.0
    max_allowance_w: float = 700.0
    margin: float = 0.05  # state of charge kept above what the next eclipse needs


class Eps:
    """The EPS's state, stepped once per bus second."""

    def __init__(self, config: PowerConfig) -> None:
        self.config = config
        self.soc = config.soc_start

    def allowance(self, sunlit: bool, eclipse_in_s: float, eclipse_s: float) -> float:
        """Power the payload may draw this second.

        ``eclipse_in_s``: seconds to the next eclipse (0 in one, negative if none is coming);
        ``eclipse_s``: the length of that eclipse, or the time left in the current one.
        """
        c = self.config
        if sunlit:
            surplus = c.array_w - c.bus_load_w
            if eclipse_in_s < 0 or self.soc >= 1.0:
                charge_w = 0.0 if self.soc >= 1.0 else c.max_charge_w
                return max(0.0, min(c.max_allowance_w, surplus - charge_w))
            need = c.floor + c.margin + c.bus_load_w * eclipse_s / 3600.0 / c.battery_wh
            short_wh = max(0.0, need - self.soc) * c.battery_wh
            charge_w = min(
                c.max_charge_w, short_wh * 3600.0 / max(eclipse_in_s, 1.0) / c.charge_efficiency
            )
            if self.soc < need:
                charge_w = max(charge_w, min(c.max_charge_w, surplus))
            return max(0.0, min(c.max_allowance_w, surplus - charge_w))
        spare_wh = (self.soc - c.floor - c.margin / 2) * c.battery_wh - (
            c.bus_load_w * eclipse_s / 3600.0
        )
        return max(0.0, min(c.max_allowance_w, spare_wh * 3600.0 / max(eclipse_s, 1.0)))

    def step(self, seconds: float, sunlit: bool, payload_w: float) -> None:
        """Advance the battery by ``seconds`` with the payload drawing ``payload_w``."""
        c = self.config
        net_w = (c.array_w if sunlit else 0.0) - c.bus_load_w - payload_w
        if net_w > 0:
            net_w = min(net_w, c.max_charge_w) * c.charge_efficiency
        self.soc = min(1.0, max(0.0, self.soc + net_w * seconds / 3600.0 / c.battery_wh))
