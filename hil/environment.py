"""The spacecraft's environment over a run: the orbit track, eclipse and link predictions, the sink
temperature, and the EPS, giving the bus what it tells the payload each second.

Everything that does not depend on the payload is computed once for the whole run (numpy), so a
tick is a lookup; the battery is stepped per tick because it depends on what the payload draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hil.models.orbit import GroundStation, OrbitConfig, compute_track, next_window
from hil.models.power import Eps, PowerConfig
from hil.models.thermal import ThermalConfig, sink_temperature

NONE_AHEAD = 0xFFFF_FFFF  # "no eclipse / no link window left in the run" on the wire


@dataclass(frozen=True)
class EnvironmentConfig:
    """The environment of a scenario."""

    orbit: OrbitConfig = field(default_factory=OrbitConfig)
    power: PowerConfig = field(default_factory=PowerConfig)
    thermal: ThermalConfig = field(default_factory=ThermalConfig)
    stations: tuple[GroundStation, ...] = ()


@dataclass(frozen=True)
class TickEnvironment:
    """What the bus sends the payload in one BUS_TICK (besides the time)."""

    power_allowance_w: float
    battery_soc: float
    sink_temp_c: float
    sunlit: bool
    eclipse_in_s: int  # 0 in eclipse; NONE_AHEAD if none is left
    eclipse_s: int  # seconds left in this eclipse, or the next one's length
    link_in_s: int  # 0 while a link is up; NONE_AHEAD if none is left
    link_s: int  # seconds left in this link window, or the next one's length


class Environment:
    """The environment of one run, second by second."""

    def __init__(self, config: EnvironmentConfig, start: float, seconds: int) -> None:
        self.config = config
        self.track = compute_track(config.orbit, start, seconds, config.stations)
        self.eclipse_in, self.eclipse_len = next_window(~self.track.sunlit)
        # No ground station in the scenario: the radio link is taken as always up.
        links = np.zeros(seconds, dtype=bool) if config.stations else np.ones(seconds, dtype=bool)
        for visible in self.track.visible.values():
            links |= visible
        self.links = links
        self.link_in, self.link_len = next_window(links)
        self.sink_c = sink_temperature(self.track.sunlit, config.thermal)
        self.eps = Eps(config.power)
        self.soc = np.full(seconds, np.nan)
        self.allowance = np.full(seconds, np.nan)

    @property
    def seconds(self) -> int:
        """Length of the run in seconds."""
        return self.track.seconds

    def link_up(self, second: int) -> bool:
        """Whether a link window is open at ``second``."""
        return bool(self.links[min(max(second, 0), self.seconds - 1)])

    def tick(self, second: int, payload_w: float | None = None) -> TickEnvironment:
        """The environment at ``second``; the battery first pays for the previous second, in
        which the payload drew ``payload_w`` (its allowance, if not known)."""
        i = min(second, self.seconds - 1)
        if second > 0:
            prev = i - 1
            drawn = self.allowance[prev] if payload_w is None else payload_w
            drawn = float(drawn)
            self.eps.step(1.0, bool(self.track.sunlit[prev]), 0.0 if math.isnan(drawn) else drawn)
        sunlit = bool(self.track.sunlit[i])
        eclipse_in, eclipse_s = int(self.eclipse_in[i]), int(self.eclipse_len[i])
        allowance = self.eps.allowance(sunlit, eclipse_in, eclipse_s)
        self.soc[i] = self.eps.soc
        self.allowance[i] = allowance
        link_in = int(self.link_in[i])
        return TickEnvironment(
            power_allowance_w=allowance,
            battery_soc=self.eps.soc,
            sink_temp_c=float(self.sink_c[i]),
            sunlit=sunlit,
            eclipse_in_s=NONE_AHEAD if eclipse_in < 0 else eclipse_in,
            eclipse_s=eclipse_s,
            link_in_s=NONE_AHEAD if link_in < 0 else link_in,
            link_s=int(self.link_len[i]),
        )
