"""A constellation: Walker planes of circular orbits, or a list of TLEs, expanded into one orbit
per satellite, and the check that no two of its satellites share a place in the sky.

Walker notation i: T/P/F. T satellites in P planes of S = T/P, the planes' ascending nodes
spread evenly over 360 degrees (delta) or 180 (star), the satellites spread evenly along each
plane, and plane p's satellites moved along by p F 360/T degrees. Every satellite of a Walker
constellation takes the sun of the date, so that its planes see one sun.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hil.models.orbit import OrbitConfig, compute_track

SEPARATION_STEP_S = 5  # the sampling of the separation check
MIN_SEPARATION_KM = 1.0  # closer than this, two satellites collide


@dataclass(frozen=True)
class Satellite:
    """One member of a constellation: its name and its orbit."""

    name: str
    orbit: OrbitConfig


@dataclass(frozen=True)
class Walker:
    """Walker planes of circular orbits."""

    planes: int
    per_plane: int
    phasing: int
    altitude_km: float
    inclination_deg: float
    raan_deg: float = 0.0
    pattern: str = "delta"  # or "star": nodes over 180 degrees

    @property
    def count(self) -> int:
        """T, the number of satellites."""
        return self.planes * self.per_plane

    def satellites(self) -> list[Satellite]:
        """Its satellites, named pPLANE-SLOT from 1, plane by plane."""
        spread = 360.0 if self.pattern == "delta" else 180.0
        members = []
        for p in range(self.planes):
            for s in range(self.per_plane):
                orbit = OrbitConfig(
                    altitude_km=self.altitude_km,
                    inclination_deg=self.inclination_deg,
                    raan_deg=self.raan_deg + spread * p / self.planes,
                    phase_deg=360.0 * s / self.per_plane + 360.0 * self.phasing * p / self.count,
                    date_sun=True,
                )
                members.append(Satellite(f"p{p + 1}-{s + 1}", orbit))
        return members


def closest_approach(
    satellites: list[Satellite], start: float, seconds: int
) -> tuple[float, str, str, int]:
    """The closest two satellites come to each other over ``seconds`` from ``start`` (sampled
    every SEPARATION_STEP_S): the distance in km, their names and the second."""
    samples = max(1, seconds // SEPARATION_STEP_S)
    positions = [  # copies: a view would keep every second's positions alive
        compute_track(s.orbit, start, samples * SEPARATION_STEP_S)
        .position_km[::SEPARATION_STEP_S]
        .copy()
        for s in satellites
    ]
    best = (math.inf, "", "", 0)
    for i in range(len(satellites)):
        for j in range(i + 1, len(satellites)):
            gaps = np.linalg.norm(positions[i] - positions[j], axis=1)
            k = int(np.argmin(gaps))
            if gaps[k] < best[0]:
                best = (
                    float(gaps[k]),
                    satellites[i].name,
                    satellites[j].name,
                    k * SEPARATION_STEP_S,
                )
    return best
