"""Parameter tables: the files the image ships validate and are what the controller runs with; a
table file is refused with its reason (and the table in use stays) unless it is TOML, names its
table, has exactly its fields and keeps each in range; TABLE_LOAD puts a valid one in use, across
a restart, and housekeeping reports every table's CRC-32C; RESET_TABLES brings the shipped ones
back; a damaged stored table falls back to the shipped one at start, with TABLE_FALLBACK."""

from __future__ import annotations

import pytest

import native
from flight import dictionary as d
from flight.downlink import DownlinkConfig
from flight.governor import GovernorConfig
from flight.tables.declared import TABLES
from flight.tables.store import SHIPPED, TableError, parse_table, shipped_table
from tests.flight.test_controller_commands import failure

GOVERNOR = """table = "governor"
overhead_w = 25.0
gpu_idle_w = 70.0
hysteresis_w = 10.0
resume_margin_w = 10.0
thermal_margin_c = 8.0
thermal_resistance_c_per_w = 0.15
thermal_gain_w_per_c = 25.0
checkpoint_lead_s = 30.0
"""


def test_the_shipped_tables_validate_and_set_the_subsystems(payload):
    for spec in TABLES:
        assert set(shipped_table(spec.name)) == {f.name for f in spec.fields}
        assert callable(getattr(payload.ctl.board, spec.sets).configure)
    assert GovernorConfig.shipped().thermal_margin_c == 5.0
    assert DownlinkConfig.shipped().rate_bps == 64_000.0


@pytest.mark.parametrize(
    "text, reason",
    [
        ("table = ", "not a TOML file"),
        (GOVERNOR.replace('"governor"', '"downlink"'), "the file says table = 'downlink'"),
        (GOVERNOR.replace("overhead_w = 25.0\n", ""), "missing overhead_w"),
        (GOVERNOR + "extra = 1\n", "unknown extra"),
        (
            GOVERNOR.replace("thermal_margin_c = 8.0", "thermal_margin_c = 80.0"),
            "above the maximum",
        ),
        (GOVERNOR.replace("overhead_w = 25.0", 'overhead_w = "25"'), "overhead_w: '25' is not a"),
        (GOVERNOR + "# " + "x" * 20_000 + "\n", "octets, more than"),
    ],
)
def test_a_bad_table_file_is_refused_with_its_reason(text, reason):
    governor = next(t for t in TABLES if t.name == "governor")
    with pytest.raises(TableError, match=reason) as refused:
        parse_table(governor, text.encode())
    assert refused.value.code is d.FailureCode.TABLE_INVALID


def crcs(tms):
    hk = [t for t in tms if t.name == "HOUSEKEEPING"][-1].values
    return {spec.name: hk[f"table_crc_{spec.name}"] for spec in TABLES}


def test_a_table_is_loaded_after_validation_kept_across_a_restart_and_reset(payload):
    files = payload.state_dir / "files"
    files.mkdir(exist_ok=True)
    shipped = {s.name: native.crc32c((SHIPPED / f"{s.name}.toml").read_bytes()) for s in TABLES}
    assert crcs(payload.tick()) == shipped

    (files / "bad.toml").write_text(GOVERNOR.replace("8.0", "80.0"))
    code, reason = failure(payload.command("TABLE_LOAD", {"table": "governor", "file": "bad.toml"}))
    assert code is d.FailureCode.TABLE_INVALID and "thermal_margin_c: 80.0 above" in reason
    code, _ = failure(payload.command("TABLE_LOAD", {"table": "power", "file": "bad.toml"}))
    assert code is d.FailureCode.TABLE_UNKNOWN
    assert crcs(payload.tick()) == shipped and payload.ctl.governor.config.thermal_margin_c == 5.0

    (files / "governor.toml").write_text(GOVERNOR)
    tms = payload.command("TABLE_LOAD", {"table": "governor", "file": "governor.toml"})
    loaded = [t.values for t in tms if t.name == "TABLE_LOADED"]
    crc = native.crc32c(GOVERNOR.encode())
    assert loaded == [{"table": "governor", "crc": crc}]
    assert crcs(payload.tick()) == shipped | {"governor": crc}
    config = payload.ctl.governor.config
    assert payload.ctl.control.scheduler.checkpoint_lead_s == config.checkpoint_lead_s
    assert (config.thermal_margin_c, config.overhead_w, config.eclipse_predictions) == (
        8.0,
        25.0,
        True,
    )

    payload.restart(crash=False)
    assert crcs(payload.tick()) == shipped | {"governor": crc}
    assert payload.ctl.governor.config.overhead_w == 25.0

    tms = payload.command("RESET_TABLES")
    assert "TABLES_RESET" in [t.name for t in tms]
    assert crcs(payload.tick()) == shipped and payload.ctl.governor.config.overhead_w == 0.0


def test_a_damaged_stored_table_falls_back_to_the_shipped_one(payload):
    stored = payload.state_dir / "tables" / "safe_mode.toml"
    stored.write_bytes(b'table = "safe_mode"\nthreshold = 3\nwindow_s = 36')  # cut short
    payload.restart(crash=False)
    [fallback] = payload.ctl.board.tables.fallbacks
    assert fallback.name == "TABLE_FALLBACK" and fallback.values["table"] == "safe_mode"
    assert "window_s: 36.0 below the minimum" in fallback.values["reason"]
    assert payload.ctl.safe.window_s == 3600.0
