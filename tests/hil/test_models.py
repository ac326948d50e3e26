"""The environment models against the brief's figures for a 550 km LEO."""

import numpy as np
import pytest

from hil.environment import NONE_AHEAD, Environment, EnvironmentConfig
from hil.models.orbit import GroundStation, OrbitConfig, compute_track, next_window, windows
from hil.models.power import Eps, PowerConfig
from hil.models.thermal import ThermalConfig, sink_temperature

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86_400
SVALBARD = GroundStation("svalbard", 78.23, 15.41, 5.0)
QUITO = GroundStation("quito", -0.2, -78.5, 10.0)
# ISS-like elements (51.64 deg, 15.5 revolutions a day) at an epoch at the end of 2025, written
# for this test in the two-line format; not a published element set.
ISS = (
    "1 25544U 98067A   25365.50000000  .00016717  00000-0  30270-3 0  9990",
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.50000000 12345",
)


def test_period_of_550_km_is_95_7_minutes():
    assert OrbitConfig(altitude_km=550).period_s / 60 == pytest.approx(95.7, abs=0.1)


def test_beta_zero_eclipse_is_37_percent_and_35_7_minutes():
    track = compute_track(OrbitConfig(beta_deg=0), START, DAY)
    assert (~track.sunlit).mean() == pytest.approx(0.372, abs=0.005)
    spans = windows(~track.sunlit)
    longest = max(e - s for s, e in spans)
    assert longest / 60 == pytest.approx(35.7, abs=0.3)
    assert len(spans) in (15, 16)  # about 15 orbits a day


@pytest.mark.parametrize(
    ("beta", "shadow"), [(30, (0.30, 0.37)), (60, (0.15, 0.30)), (68, (0, 0)), (80, (0, 0))]
)
def test_eclipse_shrinks_with_beta_and_vanishes_above_67_degrees(beta, shadow):
    fraction = (~compute_track(OrbitConfig(beta_deg=beta), START, 6000).sunlit).mean()
    assert shadow[0] <= fraction <= shadow[1]


def test_polar_station_sees_a_sun_synchronous_orbit_often_and_briefly():
    track = compute_track(OrbitConfig(), START, DAY, (SVALBARD, QUITO))
    polar = windows(track.visible["svalbard"])
    equatorial = windows(track.visible["quito"])
    assert 8 <= len(polar) <= 15
    assert all(60 <= e - s <= 15 * 60 for s, e in polar)
    assert 1 <= len(equatorial) < len(polar)


def test_tle_orbit_is_propagated_with_sgp4():
    track = compute_track(OrbitConfig(tle=ISS), START, 6000, (QUITO,))
    radius = np.linalg.norm(track.position_km, axis=1)
    assert 6700 < radius.min() and radius.max() < 6850  # about 400 km up
    assert 0.25 < (~track.sunlit).mean() < 0.45
    spans = windows(~track.sunlit)
    assert 30 * 60 < max(e - s for s, e in spans) < 40 * 60


def test_next_window_predictions():
    mask = np.array([0, 0, 1, 1, 1, 0, 0, 1, 0], dtype=bool)
    wait, span = next_window(mask)
    assert wait.tolist() == [2, 1, 0, 0, 0, 2, 1, 0, -1]
    assert span.tolist() == [3, 3, 3, 2, 1, 1, 1, 1, 0]


@pytest.mark.parametrize("beta", [0, 45, 75])
def test_battery_never_below_floor_when_the_payload_takes_all_it_is_allowed(beta):
    config = EnvironmentConfig(orbit=OrbitConfig(beta_deg=beta), power=PowerConfig(soc_start=0.5))
    env = Environment(config, START, DAY)
    total = sum(env.tick(t).power_allowance_w for t in range(DAY))
    assert np.nanmin(env.soc) >= config.power.floor
    assert total / DAY > 50  # and it does get power, on average


def test_allowance_in_shadow_is_zero_at_the_floor_and_the_surplus_in_sun_when_full():
    eps = Eps(PowerConfig(soc_start=0.30))
    assert eps.allowance(False, 0, 1200) == 0.0
    full = Eps(PowerConfig(soc_start=1.0, array_w=450, bus_load_w=150))
    assert full.allowance(True, 3000, 2000) == 300.0
    full.step(1.0, True, 300.0)
    assert full.soc == 1.0


def test_environment_reports_predictions_and_sink_temperature():
    config = EnvironmentConfig(stations=(SVALBARD,))
    env = Environment(config, START, 7000)
    first = env.tick(0)
    assert first.sunlit and 0 < first.eclipse_in_s < 6000 and first.eclipse_s > 1500
    inside = env.tick(first.eclipse_in_s + 10)
    assert not inside.sunlit and inside.eclipse_in_s == 0 and inside.eclipse_s < first.eclipse_s
    # a predicted window opens when predicted, and lasts as long as predicted
    assert first.link_in_s != NONE_AHEAD and first.link_s > 0
    opening = env.tick(first.link_in_s)
    assert opening.link_in_s == 0 and opening.link_s == first.link_s
    assert env.tick(first.link_in_s + first.link_s + 1).link_in_s > 0


def test_sink_temperature_follows_sun_and_shade():
    sunlit = np.array([True] * 20000 + [False] * 20000)
    sink = sink_temperature(sunlit, ThermalConfig(start_c=-50))
    assert sink[19999] == pytest.approx(-20, abs=0.5)
    assert sink[-1] == pytest.approx(-80, abs=0.5)
    assert np.all(np.diff(sink[:20000]) > 0) and np.all(np.diff(sink[20000:]) < 0)
