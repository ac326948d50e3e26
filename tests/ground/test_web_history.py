"""The web mission control's history is the archive: a field read straight from each packet gives
what decoding the whole packet gives (not-valid values as null, damaged packets left out), and
the events and the newest packet of a kind come from the same archive."""

from __future__ import annotations

import struct

from flight.protocol.messages import decode_telemetry
from flight.protocol.packets import PacketError, parse_packet
from flight.spacelink.profile import DEFAULT_SCID
from ground.archive import Archive
from ground.web.history import History
from tests.ground.test_archive import T0, hk, tm


def test_a_field_read_straight_from_the_packets_is_what_decoding_gives(tmp_path):
    archive = Archive(tmp_path / "archive.sqlite")
    raws = []
    for i in range(300):
        values = hk(uptime_s=i, gpu_temp_c=20.0 + i / 7, gpu_valid=int(i % 5 != 0))
        raw = tm("HOUSEKEEPING", values, i, T0 + i)
        if i % 50 == 7:  # damaged on the way: left out by both
            raw = raw[:30] + bytes([raw[30] ^ 0x40]) + raw[31:]
        raws.append(raw)
        archive.packet(DEFAULT_SCID, raw, T0 + i + 0.25)
    archive.packet(
        DEFAULT_SCID, tm("JOB_STARTED", {"job_id": "j", "pid": 7}, 1, T0 + 3, event=True), T0 + 3
    )
    archive.close()
    history = History(tmp_path / "archive.sqlite")
    expected = []
    for i, raw in enumerate(raws):
        try:
            tm_ = decode_telemetry(parse_packet(raw))
        except PacketError:
            continue
        value = tm_.values["gpu_temp_c"]
        expected.append(
            {"t": (T0 + i) * 1000, "ert": round((T0 + i + 0.25) * 1000), "value": value}
        )
    columns = history.series("HOUSEKEEPING", "gpu_temp_c", T0 * 1000, (T0 + 300) * 1000)
    got = [
        {"t": t, "ert": e, "value": v}
        for t, e, v in zip(columns["t"], columns["ert"], columns["value"], strict=True)
    ]
    assert len(got) == 294 and got == expected
    assert got[0]["value"] is None and got[1]["value"] is not None  # gpu_valid 0: not valid
    window = history.series("HOUSEKEEPING", "uptime_s", (T0 + 10) * 1000, (T0 + 20) * 1000)
    assert window["value"] == list(range(10, 20))
    (event,) = history.events(T0 * 1000, (T0 + 300) * 1000)
    assert (event["name"], event["severity"], event["t"]) == ("JOB_STARTED", 1, (T0 + 3) * 1000)
    assert history.latest("HOUSEKEEPING")["v"]["uptime_s"] == 299
    raw = history.raw("HOUSEKEEPING")
    assert raw["hex"] == raws[299].hex() and {"field": "APID", "octets": "0-1", "value": 0x65} in [
        {k: h[k] for k in ("field", "octets", "value")} for h in raw["header"]
    ]


def test_a_plots_envelope_keeps_each_buckets_least_and_greatest_point(tmp_path):
    archive = Archive(tmp_path / "archive.sqlite")
    wave = [((i * 37) % 101) / 3 for i in range(1000)]
    for i, v in enumerate(wave):
        archive.packet(DEFAULT_SCID, tm("HOUSEKEEPING", hk(gpu_temp_c=v), i, T0 + i), T0 + i)
    archive.close()
    history = History(tmp_path / "archive.sqlite")
    start, end = T0 * 1000, (T0 + 1000) * 1000
    got = history.envelope("HOUSEKEEPING", "gpu_temp_c", start, end, 10)
    kept = set()
    for b in range(10):  # buckets of 100 s: the first least and the first greatest of each
        span = range(b * 100, b * 100 + 100)
        values = [history_value(wave[i]) for i in span]
        kept |= {span[values.index(min(values))], span[values.index(max(values))]}
    assert got["t"] == [(T0 + i) * 1000 for i in sorted(kept)]
    assert got["value"] == [history_value(wave[i]) for i in sorted(kept)]
    assert len(got["ert"]) == len(got["t"]) == 20


def history_value(v: float) -> float:
    """The value as a binary32 field holds it."""
    return struct.unpack(">f", struct.pack(">f", v))[0]


def test_a_web_server_for_one_spacecraft_reads_only_its_rows(tmp_path):
    archive = Archive(tmp_path / "archive.sqlite")
    for i in range(5):
        archive.packet(161, tm("HOUSEKEEPING", hk(uptime_s=i), i, T0 + i), T0 + i)
        archive.packet(162, tm("HOUSEKEEPING", hk(uptime_s=100 + i), i, T0 + i), T0 + i + 0.5)
    archive.packet(162, tm("JOB_STARTED", {"job_id": "j", "pid": 7}, 9, T0 + 3, event=True), T0)
    archive.command(162, T0, "NOOP", {}, b"\x00\x00\x00\x01", "ana")
    archive.close()
    ours, theirs = (
        History(tmp_path / "archive.sqlite", 161),
        History(tmp_path / "archive.sqlite", 162),
    )
    span = (T0 * 1000, (T0 + 10) * 1000)
    assert ours.series("HOUSEKEEPING", "uptime_s", *span)["value"] == [0, 1, 2, 3, 4]
    assert theirs.series("HOUSEKEEPING", "uptime_s", *span)["value"] == [100, 101, 102, 103, 104]
    assert ours.latest("HOUSEKEEPING")["v"]["uptime_s"] == 4
    assert (ours.events(*span), [e["name"] for e in theirs.events(*span)]) == ([], ["JOB_STARTED"])
    assert (ours.commands(10), [c["name"] for c in theirs.commands(10)]) == ([], ["NOOP"])
    assert len(ours.interval(*span, 100)) == 5
