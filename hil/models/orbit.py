"""The orbit model: where the spacecraft is each second, when it is in the Earth's shadow, and when
each ground station (radio or optical) can see it.

By default a circular LEO given by altitude, inclination and beta angle (the sun's angle above the
orbit plane, held for the run); in a constellation, whose planes must share one sun, a circular
orbit places itself by its ascending node and its phase along the orbit and takes the sun of the
date (its beta angle follows from them); with a TLE, the orbit is propagated with sgp4 and the
sun moves with the date. Shadow is a cylinder of the Earth's radius behind the Earth; stations
sit on a spherical Earth and see the spacecraft above their minimum elevation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hil.models.ephemeris import EARTH_ROTATION_RAD_S, gmst_rad, julian_date, sun_direction

MU_KM3_S2 = 398_600.4418
EARTH_RADIUS_KM = 6_378.137


@dataclass(frozen=True)
class OrbitConfig:
    """The orbit: circular by altitude, inclination and beta angle, or a two-line element set."""

    altitude_km: float = 550.0
    inclination_deg: float = 97.6
    beta_deg: float = 0.0
    raan_deg: float = 0.0
    tle: tuple[str, str] | None = None
    phase_deg: float = 0.0  # argument of latitude at the start
    date_sun: bool = False  # the sun of the date (a constellation's) rather than beta_deg's

    @property
    def period_s(self) -> float:
        """Period of the circular orbit."""
        a = EARTH_RADIUS_KM + self.altitude_km
        return 2 * math.pi * math.sqrt(a**3 / MU_KM3_S2)


@dataclass(frozen=True)
class GroundStation:
    """A station on the ground: ``rf`` talks through the bus's radio, ``optical`` to the payload's
    own high-rate terminal."""

    name: str
    lat_deg: float
    lon_deg: float
    min_elevation_deg: float = 5.0
    kind: str = "rf"


@dataclass
class Track:
    """The orbit sampled once per second from the start of the run."""

    start: float
    sunlit: np.ndarray  # bool, one per second
    position_km: np.ndarray  # (N, 3), inertial
    visible: dict[str, np.ndarray] = field(default_factory=dict)  # station name -> bool

    @property
    def seconds(self) -> int:
        """Number of samples."""
        return len(self.sunlit)

    def earth_fixed(self) -> np.ndarray:
        """The positions (N, 3) in the Earth-fixed frame (the Earth turned by sidereal time)."""
        angle = gmst_rad(self.start) + EARTH_ROTATION_RAD_S * np.arange(self.seconds)
        cos_a, sin_a = np.cos(angle), np.sin(angle)
        p = self.position_km
        return np.stack(
            [cos_a * p[:, 0] + sin_a * p[:, 1], -sin_a * p[:, 0] + cos_a * p[:, 1], p[:, 2]],
            axis=1,
        )

    def ground_track(self) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude (degrees) of the point below the spacecraft each second."""
        ecef = self.earth_fixed()
        lat = np.degrees(np.arcsin(ecef[:, 2] / np.linalg.norm(ecef, axis=1)))
        return lat, np.degrees(np.arctan2(ecef[:, 1], ecef[:, 0]))


def _circular(config: OrbitConfig, start: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inertial positions and the sun's direction (fixed at beta, or of the date) of a circular
    orbit."""
    inc, raan = math.radians(config.inclination_deg), math.radians(config.raan_deg)
    node = np.array([math.cos(raan), math.sin(raan), 0.0])
    normal = np.array(
        [math.sin(raan) * math.sin(inc), -math.cos(raan) * math.sin(inc), math.cos(inc)]
    )
    in_plane = np.cross(normal, node)
    beta = math.radians(config.beta_deg)
    sun = math.cos(beta) * node + math.sin(beta) * normal  # noon at the ascending node
    u = 2 * math.pi * t / config.period_s + math.radians(config.phase_deg)
    a = EARTH_RADIUS_KM + config.altitude_km
    position = a * (np.cos(u)[:, None] * node + np.sin(u)[:, None] * in_plane)
    if config.date_sun:
        return position, sun_direction(start + t)
    return position, np.broadcast_to(sun, position.shape)


def _tle(config: OrbitConfig, unix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TEME positions from sgp4 (taken as inertial) and the sun's direction on each date."""
    from sgp4.api import Satrec

    sat = Satrec.twoline2rv(*config.tle)
    jd = julian_date(unix)
    whole = np.floor(jd)
    errors, position, _ = sat.sgp4_array(whole, jd - whole)
    if np.any(errors):
        raise ValueError(f"sgp4 could not propagate the TLE (error {int(errors.max())})")
    return position, sun_direction(unix)


def compute_track(
    config: OrbitConfig, start: float, seconds: int, stations: tuple[GroundStation, ...] = ()
) -> Track:
    """Sample the orbit once per second for ``seconds`` seconds from Unix time ``start``."""
    t = np.arange(seconds, dtype=float)
    if config.tle is not None:
        position, sun = _tle(config, start + t)
    else:
        position, sun = _circular(config, start, t)
    along = np.einsum("ij,ij->i", position, sun)
    across = np.linalg.norm(position - along[:, None] * sun, axis=1)
    sunlit = (along >= 0) | (across >= EARTH_RADIUS_KM)
    track = Track(start, sunlit, position)
    if stations:
        ecef = track.earth_fixed()
        for station in stations:
            lat, lon = math.radians(station.lat_deg), math.radians(station.lon_deg)
            up = np.array(
                [math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)]
            )
            look = ecef - EARTH_RADIUS_KM * up
            sin_el = look @ up / np.linalg.norm(look, axis=1)
            track.visible[station.name] = sin_el >= math.sin(
                math.radians(station.min_elevation_deg)
            )
    return track


def windows(mask: np.ndarray) -> list[tuple[int, int]]:
    """The (start, end) seconds of each run of True in a per-second mask; end is exclusive."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def next_window(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every second: seconds until the next window starts (0 inside one, -1 if none is
    left in the run), and the seconds left in the current window or the next window's length."""
    n = len(mask)
    spans = windows(mask)
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    lengths = np.array([e - s for s, e in spans], dtype=np.int64)
    t = np.arange(n)
    wait = np.zeros(n, dtype=np.int64)
    length = np.zeros(n, dtype=np.int64)
    if len(starts):
        idx = np.searchsorted(starts, t, side="right") - 1  # the window begun at or before t
        inside = (idx >= 0) & (t < starts[np.clip(idx, 0, None)] + lengths[np.clip(idx, 0, None)])
        upcoming = np.clip(idx + 1, 0, len(starts) - 1)
        has_next = idx + 1 < len(starts)
        wait = np.where(inside, 0, np.where(has_next, starts[upcoming] - t, -1))
        ends = starts[np.clip(idx, 0, None)] + lengths[np.clip(idx, 0, None)]
        length = np.where(inside, ends - t, np.where(has_next, lengths[upcoming], 0))
    else:
        wait[:] = -1
    return wait, length
