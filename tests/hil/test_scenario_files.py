"""Scenario files: the shipped ones load; a broken one is refused naming file, line and key."""

import pytest

from hil.scenario import ScenarioError, load_scenario, parse_scenario, shipped

GOOD = """
[scenario]
name = "t"
duration_s = 100

[orbit]
beta_deg = 10

[[timeline]]
at_s = 5
action = "command"
command = "PING"

[[checks]]
kind = "hk_min"
field = "battery_soc"
value = 0.3
"""


def test_shipped_scenarios_load():
    names = {load_scenario(str(path)).name for path in shipped()}
    assert {"nominal-day", "eclipse-stress"} <= names


def test_a_good_document():
    scenario = parse_scenario(GOOD, "t.toml")
    assert scenario.duration_s == 100 and scenario.speed is None
    assert scenario.environment.orbit.beta_deg == 10
    assert scenario.timeline[0].params["command"] == "PING"
    assert scenario.checks[0].label == "housekeeping battery_soc never below 0.3"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("beta_deg = 10", "beta_deg = 100"), "t.toml:7: orbit.beta_deg: a number from -90 to 90"),
        (("beta_deg = 10", "beta = 10"), "t.toml:7: orbit.beta: unknown key"),
        (('command = "PING"', 'command = "PONG"'), "t.toml:12: timeline[0].command: 'PONG' is not"),
        (("at_s = 5", "at_s = 500"), "t.toml:10: timeline[0].at_s: a number from 0 to 100"),
        (('field = "battery_soc"', 'field = "battery"'), "t.toml:16: checks[0].field: 'battery'"),
        (('kind = "hk_min"', 'kind = "hk_minimum"'), "t.toml:15: checks[0].kind: 'hk_minimum'"),
        (("duration_s = 100", "duration_s = -1"), "t.toml:4: scenario.duration_s: an integer"),
        (("[orbit]", "[orbits]"), "t.toml:6: orbits: unknown table"),
        (("[orbit]", '[link]\nrelay = "sometimes"\n[orbit]'), 't.toml:7: link.relay: "always"'),
        (("[orbit]", "[link]\nradio_loss = 0.9\n[orbit]"), "t.toml:7: link.radio_loss: a number"),
    ],
)
def test_errors_name_file_line_and_key(change, where):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(GOOD.replace(*change), "t.toml")
    assert str(err.value).startswith(where)


def test_syntax_errors_name_the_file_and_position():
    with pytest.raises(ScenarioError, match=r"t.toml: not valid TOML: .*line 3"):
        parse_scenario("[scenario]\nname = 't'\nduration_s = = 3\n", "t.toml")


def test_missing_file():
    with pytest.raises(ScenarioError, match="No such file"):
        load_scenario("/nonexistent/x.toml")
