"""Time and sun ephemeris for the orbit model: Julian dates, Greenwich mean sidereal time and the
sun's direction, with the low-precision formulas of the Astronomical Almanac (about 0.01 degree
for the sun between 1950 and 2050), which is ample for shadows and passes."""

from __future__ import annotations

import numpy as np

UNIX_EPOCH_JD = 2_440_587.5
J2000_JD = 2_451_545.0
EARTH_ROTATION_RAD_S = 7.292_115_146_706_979e-5


def julian_date(unix_seconds: np.ndarray | float) -> np.ndarray:
    """Julian date (UTC, leap seconds ignored) of Unix times."""
    return UNIX_EPOCH_JD + np.asarray(unix_seconds, dtype=float) / 86_400.0


def gmst_rad(unix_seconds: np.ndarray | float) -> np.ndarray:
    """Greenwich mean sidereal angle in radians."""
    days = julian_date(unix_seconds) - J2000_JD
    return np.radians((280.460_618_37 + 360.985_647_366_29 * days) % 360.0)


def sun_direction(unix_seconds: np.ndarray | float) -> np.ndarray:
    """Unit vectors (N, 3) from Earth to the sun in the equatorial inertial frame."""
    n = np.atleast_1d(julian_date(unix_seconds) - J2000_JD)
    mean_longitude = np.radians(280.460 + 0.985_647_4 * n)
    anomaly = np.radians(357.528 + 0.985_600_3 * n)
    ecliptic_longitude = (
        mean_longitude
        + np.radians(1.915) * np.sin(anomaly)
        + np.radians(0.020) * np.sin(2 * anomaly)
    )
    obliquity = np.radians(23.439 - 0.000_000_4 * n)
    return np.stack(
        [
            np.cos(ecliptic_longitude),
            np.cos(obliquity) * np.sin(ecliptic_longitude),
            np.sin(obliquity) * np.sin(ecliptic_longitude),
        ],
        axis=1,
    )
