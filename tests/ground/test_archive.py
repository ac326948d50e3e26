"""The ground archive: raw packets with their header fields, queries by time and kind, commands,
and the command line that reads it back (decoded, or as CSV)."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys


from flight import dictionary as d
from flight.protocol.messages import encode_event, encode_telemetry
from flight.protocol.packets import build_tm
from flight.security.keys import provision_keys
from ground.archive import Archive, header_fields
from ground.accounts.store import AccountStore
from ground.station import Station
from tests.ground.accounts import provision

T0 = 1_773_964_800.0


def hk(**values) -> dict:
    """Housekeeping values: zeros (or each enum's first) but for those given; the GPU's read
    (gpu_valid 1) unless gpu_valid says otherwise."""
    base = {f.name: (min(f.enum) if f.enum else 0) for f in d.HK_FIELDS}
    return base | {"sid": d.HK_SID, "gpu_valid": 1} | values


def tm(name: str, values: dict, seq: int, t: float, event: bool = False) -> bytes:
    kind, data = (encode_event if event else encode_telemetry)(name, values)
    return build_tm(
        d.APID_PAYLOAD,
        seq,
        kind.service,
        kind.subtype,
        data,
        msg_counter=seq,
        dest_id=d.SOURCE_GROUND,
        time=t,
        time_synced=True,
    )


def test_packets_keep_their_octets_and_come_back_by_time_and_kind(tmp_path):
    archive = Archive(tmp_path / "a.sqlite")
    pings = [tm("PING_REPORT", {}, i, T0 + i) for i in range(10)]
    for i, raw in enumerate(pings):
        archive.packet(raw, ert=2e9 + i, playback=i % 2 == 1)
    archive.packet(b"\x00\x01garbage", ert=2e9)  # kept too, without header fields
    event = tm("TIME_SYNCHRONISED", {"time": T0}, 11, T0 + 3.5, event=True)
    archive.packet(event, ert=2e9)
    archive.close()
    archive = Archive(tmp_path / "a.sqlite")  # what was written survives a reopen
    assert archive.count() == 12
    window = list(archive.packets(start=T0 + 2, end=T0 + 5))
    assert [p.raw for p in window] == [pings[2], pings[3], event, pings[4]]
    names = [p.decoded().name for p in window]
    assert names == ["PING_REPORT", "PING_REPORT", "TIME_SYNCHRONISED", "PING_REPORT"]
    assert [p.playback for p in window] == [False, True, False, False]
    assert [p.raw for p in archive.packets(service=17, subtype=2)] == pings
    assert header_fields(b"short") == (None,) * 5


def test_commands_are_archived_with_their_request_id_and_account(tmp_path):
    archive = Archive(tmp_path / "a.sqlite")
    archive.command(2e9, "SUBMIT_JOB", {"manifest": {"id": "j"}}, b"\x18\x65\xc0\x01", "ana")
    assert archive.commands() == [
        (2e9, "SUBMIT_JOB", {"manifest": {"id": "j"}}, b"\x18\x65\xc0\x01", "ana")
    ]


def test_an_archive_from_before_accounts_gains_the_account_column(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE commands (id INTEGER PRIMARY KEY, sent REAL NOT NULL, name TEXT NOT NULL, "
        "args TEXT NOT NULL, request_id BLOB)"
    )
    old.execute("INSERT INTO commands (sent, name, args) VALUES (1.0, 'NOOP', '{}')")
    old.commit()
    old.close()
    archive = Archive(path)
    archive.command(2.0, "PING", {}, b"\x00\x01\x02\x03", "ana")
    assert [(c[1], c[4]) for c in archive.commands()] == [("NOOP", None), ("PING", "ana")]


def test_the_command_line_reads_it_back(tmp_path):
    state = tmp_path / "state"
    archive = Archive(state / "archive.sqlite")
    for i in range(5):
        archive.packet(tm("PING_REPORT", {}, i, T0 + i), ert=2e9)
    archive.packet(tm("TIME_SYNCHRONISED", {"time": T0}, 9, T0 + 1, event=True), ert=2e9)
    archive.packet(tm("HOUSEKEEPING", hk(gpu_temp_c=41.5, governor_mode=4), 10, T0 + 6), ert=2e9)
    archive.packet(tm("HOUSEKEEPING", hk(gpu_valid=0, governor_mode=5), 11, T0 + 7), ert=2e9)
    archive.packet(tm("GOVERNOR_MODE", {"mode": 4, "reason": "hot"}, 12, T0 + 6, True), ert=2e9)
    archive.close()
    env = {**os.environ, "PYTHONSAFEPATH": "1"}

    def ground(*args):
        done = subprocess.run(
            [sys.executable, "-m", "ground", "archive", *args, "--state", str(state)],
            capture_output=True,
            text=True,
            env=env,
        )
        return done.returncode, done.stdout, done.stderr

    code, out, _ = ground("query", "--name", "TIME_SYNCHRONISED", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["TIME_SYNCHRONISED"]
    code, out, _ = ground("query", "--from", "2026-03-20T00:00:02Z", "--limit", "2", "--json")
    assert [r["time"] for r in json.loads(out)] == [
        "2026-03-20T00:00:02+00:00",
        "2026-03-20T00:00:03+00:00",
    ]
    code, out, _ = ground(
        "export", "--csv", str(tmp_path / "all.csv"), "--to", "2026-03-20T00:00:05Z"
    )
    rows = list(csv.reader((tmp_path / "all.csv").open()))
    assert code == 0 and rows[0] == ["time", "name", "playback", "values"] and len(rows) == 7
    # one packet named: a column per field, enum names, not valid an empty cell (never a number)
    code, out, _ = ground("export", "--csv", str(tmp_path / "hk.csv"), "--name", "HOUSEKEEPING")
    head, valid, off = list(csv.reader((tmp_path / "hk.csv").open()))
    assert code == 0 and head[:3] == ["time", "name", "playback"] and "gpu_temp_c" in head
    column = {name: i for i, name in enumerate(head)}
    assert (valid[column["gpu_temp_c"]], off[column["gpu_temp_c"]]) == ("41.5", "")
    assert (valid[column["gpu_valid"]], off[column["gpu_valid"]]) == ("YES", "NO")
    assert off[column["gpu_sm_clock_mhz"]] == "" and off[column["payload_power_w"]] == "0.0"
    assert (valid[column["governor_mode"]], off[column["governor_mode"]]) == (
        d.GOVERNOR_MODE_NAMES[4],
        d.GOVERNOR_MODE_NAMES[5],
    )
    code, out, _ = ground("query", "--name", "HOUSEKEEPING")
    first, second = out.splitlines()
    assert "gpu_temp_c=41.5" in first and "gpu_temp_c=not valid" in second
    assert f"governor_mode={d.GOVERNOR_MODE_NAMES[5]}" in second
    code, out, _ = ground("query", "--name", "GOVERNOR_MODE")
    assert code == 0 and f"mode={d.GOVERNOR_MODE_NAMES[4]} reason=hot" in out  # not mode=4
    code, _, err = ground("query", "--from", "2026-03-20T00:00:05Z", "--to", "2026-03-20T00:00:01Z")
    assert code == 2 and "is later than --to" in err and err.count("\n") == 1
    code, _, err = ground("query", "--name", "gpu_temp_c")
    assert code == 2 and "a field of HOUSEKEEPING" in err and err.count("\n") == 1
    code, _, err = ground("query", "--name", "NO_SUCH_THING")
    assert code == 2 and err.count("\n") == 1 and "NO_SUCH_THING" in err
    code, _, err = ground("query", "--from", "yesterday")
    assert code == 2 and "Traceback" not in err


def test_a_full_disk_loses_no_packet_and_no_command(small_disk, caplog):
    keys = provision_keys(small_disk.parent / "keys").ground
    accounts = AccountStore(provision(small_disk.parent / "accounts")[0])
    station = Station("127.0.0.1", 9, keys, small_disk / "ground", accounts=accounts)
    sent = 40_000  # about 7 MB: more than the disk holds
    for i in range(sent):
        station.downlinked(tm("HOUSEKEEPING", hk(uptime_s=i), i & 0x3FFF, T0 + i))
    station.archive.command(T0, "NOOP", {}, b"\x18\x65\xc0\x01")
    station._archiving(station.archive.flush)
    assert station.archive_errors > 0
    committed = station.archive.db.execute("SELECT COALESCE(SUM(count), 0) FROM chunks")
    assert station.archive.pending == sent + 1 - committed.fetchone()[0]
    assert sum("archive: cannot commit" in r.message for r in caplog.records) == 1
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    station._archiving(station.archive.flush)
    assert station.archive.pending == 0
    assert station.archive.count() == sent
    assert [c[1] for c in station.archive.commands()] == ["NOOP"]
    assert any("committing again" in r.message for r in caplog.records)
    station.archive.close()
