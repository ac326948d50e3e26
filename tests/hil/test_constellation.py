"""A constellation on the bench: Walker planes expanded into orbits, laser links from the
geometry (line of sight over the atmosphere, range, terminals, acquisition, light time), and
scenario files that declare an impossible constellation refused naming file, line and key."""

import math

import numpy as np
import pytest

from hil.models.constellation import Walker, closest_approach
from hil.models.isl import LIGHT_KM_S, IslConfig, compute_topology, line_of_sight
from hil.models.orbit import EARTH_RADIUS_KM, compute_track
from hil.scenario import ScenarioError, load_scenario, parse_scenario

START = 1_773_964_800.0  # 2026-03-20T00:00:00Z


def _tracks(walker, seconds):
    satellites = walker.satellites()
    return satellites, [compute_track(s.orbit, START, seconds).position_km for s in satellites]


def test_walker_planes_nodes_and_phases():
    satellites, positions = _tracks(Walker(3, 4, 2, 800, 60), 1)
    assert [s.name for s in satellites[:5]] == ["p1-1", "p1-2", "p1-3", "p1-4", "p2-1"]
    assert [s.orbit.raan_deg for s in satellites[::4]] == [0, 120, 240]
    assert [s.orbit.phase_deg for s in satellites[:4]] == [0, 90, 180, 270]
    assert satellites[4].orbit.phase_deg == pytest.approx(360 * 2 / 12)  # F 360 / T
    radii = [float(np.linalg.norm(p[0])) for p in positions]
    assert radii == pytest.approx([EARTH_RADIUS_KM + 800] * 12)
    star = Walker(3, 1, 0, 800, 90, pattern="star").satellites()
    assert [s.orbit.raan_deg for s in star] == [0, 60, 120]


def test_two_satellites_in_one_place_are_found():
    gap, a, b, at = closest_approach(Walker(2, 4, 0, 550, 53).satellites(), START, 6000)
    assert gap < 1e-6 and {a, b} == {"p1-3", "p2-1"} and at == 0
    gap, *_ = closest_approach(Walker(2, 4, 1, 550, 53).satellites(), START, 6000)
    assert gap > 1000


def test_line_of_sight_clears_the_atmosphere_or_not():
    a = EARTH_RADIUS_KM + 1000

    # two satellites half an angle theta either side of a point: the line's lowest point is
    # a cos(theta) from the Earth's centre
    def pair(theta):
        p = np.array([[a * math.cos(theta), a * math.sin(theta), 0.0]])
        q = np.array([[a * math.cos(theta), -a * math.sin(theta), 0.0]])
        return p, q

    clear = math.acos((EARTH_RADIUS_KM + 81) / a)
    blocked = math.acos((EARTH_RADIUS_KM + 79) / a)
    assert line_of_sight(*pair(clear), 80.0)[0]
    assert not line_of_sight(*pair(blocked), 80.0)[0]
    assert not line_of_sight(*pair(math.pi / 2), 0.0)[0]  # opposite sides of the Earth


def test_a_ring_links_each_neighbour_after_acquisition_and_holds():
    satellites, positions = _tracks(Walker(1, 8, 0, 1000, 53), 3000)
    config = IslConfig(max_range_km=6000, acquisition_s=30)
    topology = compute_topology([s.name for s in satellites], positions, config)
    assert [c.t_s for c in topology.changes] == [30] * 8 and all(c.up for c in topology.changes)
    assert sorted(topology.neighbours(0, 100)) == [1, 7]
    assert not topology.up(0, 1, 29) and topology.up(0, 1, 30) and topology.up(0, 1, 2999)
    assert topology.delay_s(0, 1, 100) == pytest.approx(topology.range_km(0, 1, 100) / LIGHT_KM_S)
    assert 0.018 < topology.delay_s(0, 1, 100) < 0.02  # 45 degrees apart at 7378 km: 5647 km


def test_terminals_range_and_geometry_bound_every_link():
    satellites, positions = _tracks(Walker(2, 4, 1, 1200, 70), 12_000)
    config = IslConfig(max_range_km=8000, terminals=2, acquisition_s=20)
    topology = compute_topology([s.name for s in satellites], positions, config)
    downs = [c for c in topology.changes if not c.up]
    assert len(downs) > 20 and len(topology.changes) - len(downs) >= len(downs)
    index = {name: i for i, name in enumerate(topology.names)}
    for change in downs:  # the geometry broke it: in view and range the second before, not now
        i, j = index[change.a], index[change.b]
        for t, feasible in ((change.t_s - 1, True), (change.t_s, False)):
            p, q = positions[i][t : t + 1], positions[j][t : t + 1]
            ok = line_of_sight(p, q, config.grazing_km)[0] and topology.range_km(i, j, t) <= 8000
            assert ok == feasible
    for t in range(0, 12_000, 7):
        assert all(len(topology.neighbours(i, t)) <= 2 for i in range(8))
    for (i, j), spans in topology.intervals.items():
        for s, e in spans:
            assert e - s >= 1 and topology.up(i, j, s) and not topology.up(i, j, e)


HEAD = '[scenario]\nname = "c"\nduration_s = 3600\n'
WALKER = "[constellation]\nplanes = 2\nper_plane = 4\nphasing = 1\naltitude_km = 1200\n" + (
    "inclination_deg = 70\n"
)
ISS = (
    "1 25544U 98067A   26079.50000000  .00016717  00000-0  30153-3 0  9993",
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.49815571 10006",
)


def test_a_constellation_scenario_loads():
    scenario = parse_scenario(HEAD + WALKER + "[isl]\nmax_range_km = 7000\n", "c.toml")
    assert len(scenario.constellation) == 8 and scenario.isl.max_range_km == 7000
    assert all(s.orbit.date_sun for s in scenario.constellation)
    shipped = load_scenario("constellation-day")
    assert len(shipped.constellation) == 8 and shipped.duration_s == 86_400


RELAY = '[[timeline]]\nat_s = 10\naction = "relay"\n'


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (WALKER.replace("phasing = 1", "phasing = 0"), "c.toml:7: constellation.phasing: p"),
        (WALKER.replace("phasing = 1", "phasing = 2"), "c.toml:7: constellation.phasing"),
        (WALKER.replace("per_plane = 4", "per_plane = 40"), "c.toml:6: constellation.per_plane"),
        (WALKER.replace("planes = 2", "planes = 0"), "c.toml:5: constellation.planes"),
        (WALKER.replace("altitude_km = 1200", "altitude_km = 90"), "constellation.altitude_km"),
        (WALKER + "colour = 1\n", "c.toml:10: constellation.colour: unknown key"),
        (WALKER + "[orbit]\nbeta_deg = 3\n", "c.toml:10: orbit: a constellation gives"),
        (WALKER + '[[satellites]]\nname = "x"\n', "c.toml:10: satellites[0]: a constellation is"),
        ("[isl]\nterminals = 2\n", "c.toml:4: isl: laser terminals link"),
        (WALKER + "[isl]\nterminals = 0\n", "c.toml:11: isl.terminals"),
        (WALKER + "[isl]\ngrazing_km = -1\n", "c.toml:11: isl.grazing_km"),
        (WALKER + "[isl]\nrate_bps = 1e6\ncarried_bps = 2e6\n", "c.toml:12: isl.carried_bps"),
        (WALKER + "[isl]\nloss = 0.9\n", "c.toml:11: isl.loss"),
        (
            WALKER + '[[isl.flap]]\nbetween = ["p1-1", "p9-1"]\nstart_s = 0\nduration_s = 60\n'
            "every_s = 5\n",
            "c.toml:11: isl.flap[0].between: two different satellites",
        ),
        (
            WALKER + '[[isl.flap]]\nbetween = ["p1-1", "p1-2"]\nstart_s = 0\nduration_s = 60\n'
            "every_s = 0\n",
            "c.toml:14: isl.flap[0].every_s",
        ),
        (
            WALKER + '[[timeline]]\nat_s = 10\naction = "note"\ntext = "x"\nspacecraft = "p7-1"\n',
            "c.toml:14: timeline[0].spacecraft",
        ),
        (
            '[[timeline]]\nat_s = 10\naction = "note"\ntext = "x"\nspacecraft = "p1-1"\n',
            "c.toml:8: timeline[0].spacecraft: names a satellite of a constellation",
        ),
        (
            '[[timeline]]\nat_s = 10\naction = "fault"\nfault = "outage"\nduration_s = 5\n'
            "during_transfer = true\n",
            "c.toml:9: timeline[0].during_transfer: true or false, for kill_controller only",
        ),
        (WALKER + RELAY + 'command = "PING"\n', "c.toml:10: timeline[0].spacecraft: names the"),
        (
            WALKER + RELAY + 'spacecraft = "p1-1"\nfiles = [{ name = "../x", text = "y" }]\n',
            "c.toml:14: timeline[0].files[0].name: a plain file name",
        ),
        (
            WALKER + RELAY + 'spacecraft = "p1-1"\nfiles = [{ name = "x" }]\n',
            "c.toml:14: timeline[0].files[0]: a table of name and text",
        ),
        (WALKER + RELAY + 'spacecraft = "p1-1"\n', "c.toml:10: timeline[0]: a relay step carries"),
        (
            WALKER + RELAY + 'spacecraft = "p1-1"\ncommand = "PING"\nvia = "p9-9"\n',
            "c.toml:15: timeline[0].via: 'p9-9' is not one of",
        ),
        (
            WALKER + RELAY + 'spacecraft = "p1-1"\ncommand = "PING"\nexpect = "rejected"\n',
            "c.toml:15: timeline[0].expect: a relay step's commands are all to complete",
        ),
        ('[[satellites]]\nname = "a"\ntle = ["1 x", "2 y"]\n', "c.toml:6: satellites[0].tle"),
        (
            f'[[satellites]]\nname = "a"\ntle = {list(ISS)!r}\n[[satellites]]\nname = "a"\n'
            f"tle = {list(ISS)!r}\n".replace("'", '"'),
            "c.toml:8: satellites[1].name",
        ),
        (
            f'[[satellites]]\nname = "a"\ntle = {list(ISS)!r}\n[[satellites]]\nname = "b"\n'
            f"tle = {list(ISS)!r}\n".replace("'", '"'),
            "c.toml:9: satellites[1].tle: a and b come within 0.0 km",
        ),
        ('[[satellites]]\nname = "9a"\ntle = ["", ""]\n', "c.toml:5: satellites[0].name"),
    ],
)
def test_an_impossible_constellation_is_refused_naming_file_line_and_key(text, where):
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(HEAD + text, "c.toml")
    assert where in str(refused.value)
