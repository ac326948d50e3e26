"""The ground archive: raw packets with their header fields, queries by time and kind, commands,
and the command line that reads it back (decoded, or as CSV)."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
from array import array

import pytest


from flight import dictionary as d
from flight.protocol.messages import encode_event, encode_telemetry
from flight.protocol.packets import build_tm
from flight.security.keys import provision_keys
from ground.archive import Archive, ArchiveError, header_fields
from ground.audit import audit_rows
from ground.fleet import one_spacecraft
from ground.accounts.store import AccountStore
from ground.station import Station
from hil.postgresql import PostgresServer
from tests.ground.accounts import provision
from tests.ground.test_cli import ground

T0 = 1_773_964_800.0
SCID, OTHER = 161, 162


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


def test_packets_keep_their_octets_and_come_back_by_time_and_kind(archive_spec):
    archive = Archive(archive_spec)
    pings = [tm("PING_REPORT", {}, i, T0 + i) for i in range(10)]
    for i, raw in enumerate(pings):
        archive.packet(SCID, raw, ert=2e9 + i, playback=i % 2 == 1)
    archive.packet(SCID, b"\x00\x01garbage", ert=2e9)  # kept too, without header fields
    event = tm("TIME_SYNCHRONISED", {"time": T0}, 11, T0 + 3.5, event=True)
    archive.packet(SCID, event, ert=2e9)
    archive.close()
    archive = Archive(archive_spec, create=False)  # what was written survives a reopen
    assert archive.count() == 12
    window = list(archive.packets(start=T0 + 2, end=T0 + 5))
    assert [p.raw for p in window] == [pings[2], pings[3], event, pings[4]]
    names = [p.decoded().name for p in window]
    assert names == ["PING_REPORT", "PING_REPORT", "TIME_SYNCHRONISED", "PING_REPORT"]
    assert [p.playback for p in window] == [False, True, False, False]
    assert [p.raw for p in archive.packets(service=17, subtype=2)] == pings
    assert [p.raw for p in archive.packets(name="PING_REPORT", end=T0 + 2)] == pings[:2]
    assert [p.raw for p in archive.packets(name="TIME_SYNCHRONISED")] == [event]
    assert archive.packets(name="JOB_STARTED") == []
    assert archive.latest(17, 2).raw == pings[-1] and archive.latest(3, 25) is None
    assert header_fields(b"short") == (None,) * 5
    archive.close()


def test_two_spacecraft_never_share_a_row(archive_spec):
    archive = Archive(archive_spec)
    ours = [tm("PING_REPORT", {}, i, T0 + i) for i in range(3000)]  # more than a flush holds
    theirs = [tm("PING_REPORT", {}, i, T0 + i) for i in range(5)]  # the same octets, in part
    for i, raw in enumerate(ours):
        archive.packet(SCID, raw, ert=2e9 + i)
        if i < len(theirs):
            archive.packet(OTHER, theirs[i], ert=2e9 + i + 0.5)
    archive.command(SCID, 2e9, "NOOP", {}, b"\x18\x65\xc0\x01", "ana")
    archive.command(OTHER, 2e9 + 1, "PING", {}, b"\x18\x65\xc0\x02", "ben")
    assert archive.spacecraft() == [SCID, OTHER]
    assert (archive.count(SCID), archive.count(OTHER), archive.count()) == (3000, 5, 3005)
    assert [p.raw for p in archive.packets(spacecraft=OTHER)] == theirs
    assert {p.scid for p in archive.packets(spacecraft=SCID)} == {SCID}
    assert [p.scid for p in archive.packets(T0 + 1, T0 + 2)] == [SCID, OTHER]
    assert archive.latest(17, 2, spacecraft=OTHER).raw == theirs[-1]
    assert archive.latest(17, 2, spacecraft=SCID).raw == ours[-1]
    assert [(c.name, c.account) for c in archive.commands(OTHER)] == [("PING", "ben")]
    assert [c.scid for c in archive.commands()] == [SCID, OTHER]
    archive.close()


def test_commands_are_archived_with_their_request_id_and_account(archive_spec):
    archive = Archive(archive_spec)
    archive.command(SCID, 2e9, "SUBMIT_JOB", {"manifest": {"id": "j"}}, b"\x18\x65\xc0\x01", "ana")
    assert archive.commands() == [
        (2e9, "SUBMIT_JOB", {"manifest": {"id": "j"}}, b"\x18\x65\xc0\x01", "ana", SCID)
    ]
    archive.close()


def test_retention_deletes_what_arrived_before_and_keeps_the_audit_trail(archive_spec):
    archive = Archive(archive_spec)
    for i in range(2000):
        archive.packet(SCID, tm("PING_REPORT", {}, i & 0x3FFF, T0 + i), ert=T0 + i)
        if i == 999:
            archive.flush()  # the old ones in chunks of their own
    archive.command(SCID, T0, "NOOP", {}, b"\x00\x00\x00\x01")
    archive.command(SCID, T0 + 1500, "PING", {}, b"\x00\x00\x00\x02")
    archive.audit.append(T0, "ana", None, "login", "ok")
    assert archive.prune(T0 + 1000) == (1000, 1)
    assert archive.count() == 1000 and archive.packets()[0].time == T0 + 1000
    assert [c.name for c in archive.commands()] == ["PING"]
    assert [r.action for r in audit_rows(archive.db)] == ["login"]
    assert archive.prune(T0 + 1000) == (0, 0)
    archive.close()


def test_an_archive_that_cannot_be_reached_or_is_missing_is_one_line(tmp_path):
    for spec, said in [
        ("postgresql://nobody@/none?host=/nonexistent", "cannot connect to the archive"),
        ("postgresql://ana:secret@/none?host=/nonexistent", "ana:***@"),
        (str(tmp_path / "none.sqlite"), "no archive at"),
    ]:
        with pytest.raises(ArchiveError) as raised:
            Archive(spec, create=False)
        assert said in str(raised.value) and "secret" not in str(raised.value)
        code, _, err = ground_command(tmp_path, "archive", "query", "--archive", spec)
        assert code == 2 and err.count("\n") == 1 and said in err and "Traceback" not in err


# the archive as it was before spacecraft ids (schema version 1), without the account column
VERSION_1 = """
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY, time_min REAL, time_max REAL, count INTEGER NOT NULL,
    data BLOB NOT NULL, starts BLOB NOT NULL, erts BLOB NOT NULL, playback BLOB NOT NULL);
CREATE INDEX chunks_time ON chunks (time_max, time_min);
CREATE TABLE commands (
    id INTEGER PRIMARY KEY, sent REAL NOT NULL, name TEXT NOT NULL, args TEXT NOT NULL,
    request_id BLOB);
"""


def test_an_archive_from_before_spacecraft_ids_is_refused_until_migrated(tmp_path):
    path = tmp_path / "state" / "archive.sqlite"
    path.parent.mkdir()
    old = sqlite3.connect(path)
    old.executescript(VERSION_1)
    raws = [
        tm("PING_REPORT", {}, 1, T0 + 1),
        tm("HOUSEKEEPING", hk(uptime_s=7), 2, T0 + 2),
        tm("TIME_SYNCHRONISED", {"time": T0}, 3, T0 + 3, event=True),
    ]
    starts = array("I", [0, len(raws[0]), len(raws[0]) + len(raws[1])])
    erts = array("d", [2e9, 2e9 + 1, 2e9 + 2])
    old.execute(
        "INSERT INTO chunks (time_min, time_max, count, data, starts, erts, playback) "
        "VALUES (?, ?, 3, ?, ?, ?, ?)",
        (T0 + 1, T0 + 3, b"".join(raws), starts.tobytes(), erts.tobytes(), bytes([0, 1, 0])),
    )
    old.execute("INSERT INTO commands (sent, name, args) VALUES (1.0, 'NOOP', '{}')")
    old.commit()
    old.close()
    with pytest.raises(ArchiveError, match="schema version 1.*archive migrate"):
        Archive(path)
    code, _, err = ground_command(tmp_path, "archive", "query", "--state", str(path.parent))
    assert code == 2 and err.count("\n") == 1 and "python -m ground archive migrate" in err
    code, out, _ = ground_command(
        tmp_path, "archive", "migrate", "--state", str(path.parent), "--spacecraft-id", str(OTHER)
    )
    assert code == 0 and "3 packets and 1 commands filed under spacecraft 162" in out
    archive = Archive(path, create=False)
    assert [p.raw for p in archive.packets()] == raws
    assert [p.playback for p in archive.packets()] == [False, True, False]
    assert [p.raw for p in archive.packets(spacecraft=OTHER, name="HOUSEKEEPING")] == [raws[1]]
    assert archive.commands() == [(1.0, "NOOP", {}, b"", None, OTHER)]
    archive.close()
    code, out, _ = ground_command(tmp_path, "archive", "migrate", "--state", str(path.parent))
    assert code == 0 and "nothing to do" in out


def ground_command(cwd, *args):
    """``python -m ground ARGS`` in ``cwd`` (tests/ground/test_cli.py): status, out, err."""
    done = ground(*args, cwd=cwd)
    return done.returncode, done.stdout, done.stderr


def test_the_command_line_reads_it_back(tmp_path, archive_spec):
    archive = Archive(archive_spec)
    for i in range(5):
        archive.packet(SCID, tm("PING_REPORT", {}, i, T0 + i), ert=2e9)
    archive.packet(SCID, tm("TIME_SYNCHRONISED", {"time": T0}, 9, T0 + 1, event=True), ert=2e9)
    archive.packet(SCID, tm("HOUSEKEEPING", hk(gpu_temp_c=41.5, governor_mode=4), 10, T0 + 6), 2e9)
    archive.packet(SCID, tm("HOUSEKEEPING", hk(gpu_valid=0, governor_mode=5), 11, T0 + 7), 2e9)
    archive.packet(SCID, tm("GOVERNOR_MODE", {"mode": 4, "reason": "hot"}, 12, T0 + 6, True), 2e9)
    archive.packet(OTHER, tm("PING_REPORT", {}, 1, T0 + 1), ert=2e9)
    archive.close()

    def ground(command, *args):
        return ground_command(tmp_path, "archive", command, "--archive", archive_spec, *args)

    code, out, _ = ground("export", "--raw", str(tmp_path / "other.tm"), "--spacecraft", "162")
    assert code == 0 and (tmp_path / "other.tm").read_bytes() == tm("PING_REPORT", {}, 1, T0 + 1)
    code, _, err = ground("export", "--raw", "x.tm", "--csv", "x.csv")
    assert code == 2 and "not allowed with argument" in err
    code, out, _ = ground("query", "--spacecraft", str(OTHER), "--json")
    assert code == 0 and [r["spacecraft"] for r in json.loads(out)] == [OTHER]
    code, out, _ = ground("query", "--name", "PING_REPORT", "--json")
    assert code == 0 and sorted(r["spacecraft"] for r in json.loads(out)) == [SCID] * 5 + [OTHER]

    code, out, _ = ground("query", "--name", "TIME_SYNCHRONISED", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["TIME_SYNCHRONISED"]
    code, out, _ = ground(
        "query", "--from", "2026-03-20T00:00:02Z", "--limit", "2", "--json", "--spacecraft", "161"
    )
    assert [r["time"] for r in json.loads(out)] == [
        "2026-03-20T00:00:02+00:00",
        "2026-03-20T00:00:03+00:00",
    ]
    code, out, _ = ground(
        "export",
        "--csv",
        str(tmp_path / "all.csv"),
        "--to",
        "2026-03-20T00:00:05Z",
        "--spacecraft",
        "161",
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
    station = Station(
        "127.0.0.1:9", one_spacecraft(SCID, keys), small_disk / "ground", accounts=accounts
    )
    sent = 40_000  # about 7 MB: more than the disk holds
    for i in range(sent):
        station.craft[SCID].downlinked(tm("HOUSEKEEPING", hk(uptime_s=i), i & 0x3FFF, T0 + i))
    station.archive.command(SCID, T0, "NOOP", {}, b"\x18\x65\xc0\x01")
    station.archiving(station.archive.flush)
    assert station.archive_errors > 0
    committed = station.archive.db.execute("SELECT COALESCE(SUM(count), 0) FROM chunks")
    assert station.archive.pending == sent + 1 - committed.fetchone()[0]
    assert sum("archive: cannot commit" in r.message for r in caplog.records) == 1
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    station.archiving(station.archive.flush)
    assert station.archive.pending == 0
    assert station.archive.count() == sent
    assert [c[1] for c in station.archive.commands()] == ["NOOP"]
    assert any("committing again" in r.message for r in caplog.records)
    station.archive.close()


def test_the_station_files_what_it_hears_and_sends_under_its_spacecraft(tmp_path, archive_spec):
    keys = provision_keys(tmp_path / "keys").ground
    accounts = AccountStore(provision(tmp_path / "accounts")[0])
    station = Station(
        "127.0.0.1:9",
        one_spacecraft(SCID, keys),
        tmp_path / "ground",
        accounts=accounts,
        archive=archive_spec,
    )
    for i in range(20):
        station.craft[SCID].downlinked(tm("HOUSEKEEPING", hk(uptime_s=i), i, T0 + i))
    station.audit("ana", None, "login", "ok")
    station.archiving(station.archive.flush)
    station.archive.close()
    archive = Archive(archive_spec, create=False)
    assert archive.spacecraft() == [SCID] and archive.count(SCID) == 20
    assert [r.account for r in audit_rows(archive.db)] == ["ana"]
    archive.close()


def test_a_lost_postgresql_server_loses_nothing_and_is_reconnected():
    with PostgresServer() as server:
        archive = Archive(server.database("archive"))
        raws = [tm("PING_REPORT", {}, i, T0 + i) for i in range(20)]
        for raw in raws[:10]:
            archive.packet(SCID, raw, 2e9)
        archive.flush()
        server.halt()
        for raw in raws[10:]:
            archive.packet(SCID, raw, 2e9)
        archive.command(SCID, 2e9, "NOOP", {}, b"\x00\x00\x00\x01")
        for _ in range(2):  # the server gone: each try fails, and everything stays held
            with pytest.raises(archive.errors):
                archive.flush()
        assert archive.pending == 11
        server.resume()
        archive.flush()  # a new connection
        assert archive.pending == 0
        assert [p.raw for p in archive.packets()] == raws
        assert [c.name for c in archive.commands()] == ["NOOP"]
        archive.close()
