"""The thermal environment: the payload radiator's sink temperature across the orbit, a first-order
lag towards a sunlit or an eclipse value."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ThermalConfig:
    """Sink temperatures in sun and shade, and how fast the sink follows."""

    sink_sun_c: float = -20.0
    sink_eclipse_c: float = -80.0
    time_constant_s: float = 1200.0
    start_c: float = -40.0


def sink_temperature(sunlit: np.ndarray, config: ThermalConfig) -> np.ndarray:
    """Sink temperature (C) for each second of a sunlit mask."""
    target = np.where(sunlit, config.sink_sun_c, config.sink_eclipse_c)
    alpha = 1.0 - math.exp(-1.0 / config.time_constant_s)
    out = np.empty(len(target))
    value = config.start_c
    for i, goal in enumerate(target.tolist()):
        value += alpha * (goal - value)
        out[i] = value
    return out
