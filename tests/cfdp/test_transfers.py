"""CFDP transfers between two of our entities in lockstep: both classes, every checksum, loss,
outages, lost directives, corruption and restarts (tests/cfdp/conftest.py joins them)."""

from __future__ import annotations

import dataclasses
import os
import resource
import signal

import pytest

from flight.cfdp import pdu as P
from flight.cfdp import receiver
from tests.cfdp.conftest import Pair


def source(pair: Pair, size: int, name: str = "result.bin") -> bytes:
    data = os.urandom(size)
    (pair.root / name).write_bytes(data)
    return data


def delivered(pair: Pair, name: str = "result.bin") -> bytes | None:
    path = pair.root / "store2" / name
    return path.read_bytes() if path.exists() else None


def outcome(entity):
    (report,) = entity.reports
    return report


@pytest.mark.parametrize("runs", [False, True], ids=["one-by-one", "runs"])
@pytest.mark.parametrize("checksum", list(P.ChecksumType))
@pytest.mark.parametrize("acknowledged", [True, False])
def test_clean_transfer_every_checksum(tmp_path, checksum, acknowledged, runs):
    pair = Pair(tmp_path, config1={"checksum": checksum}, runs=runs)
    data = source(pair, 70_001)
    pair.e1.put(pair.root / "result.bin", remote_id=2, acknowledged=acknowledged)
    pair.run(pair.quiet)
    assert delivered(pair) == data
    assert outcome(pair.e2).delivered and outcome(pair.e2).condition == P.Condition.NO_ERROR
    assert outcome(pair.e1).delivered == acknowledged  # class 1 hears nothing back
    assert not list((pair.root / "store2" / ".partial").iterdir())
    assert not runs or pair.link1.runs >= 2  # its 69 PDUs of data in runs, 64 at most a step


def test_a_receiver_starts_writing_back_each_8_mib_as_it_goes(tmp_path, monkeypatch):
    """The fsync at the end then waits for the last of the file only."""
    started = []
    monkeypatch.setattr(receiver, "start_writeback", lambda fd: started.append(fd))
    pair = Pair(tmp_path, config1={"segment_size": 60_000}, per_step=None)
    data = source(pair, 20_000_000)
    pair.e1.put(pair.root / "result.bin", remote_id=2)
    pair.run(pair.quiet)
    assert delivered(pair) == data
    assert len(started) == 2  # at 8 and 16 MiB; the last 4 MB waits for the fsync


def test_a_write_the_store_refuses_mid_transfer_ends_the_transaction_counted(tmp_path):
    """The disk fills while the file comes (here the process's file size limit, RLIMIT_FSIZE,
    whose EFBIG a write meets past 1 MB): the receiver ends it with FILESTORE_REJECTION, told to
    the sender, counted, the partial file removed; nothing raises."""
    pair = Pair(tmp_path)
    source(pair, 3_000_000)
    pair.e1.put(pair.root / "result.bin", remote_id=2)
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write says EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, limits[1]))
    try:
        pair.run(pair.quiet)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    assert outcome(pair.e2).condition == P.Condition.FILESTORE_REJECTION
    assert outcome(pair.e1).condition == P.Condition.FILESTORE_REJECTION
    assert pair.e2.counters["file_write_failed"] == 1
    assert pair.e2.counters["pdu_refused_out_of_range"] == 0
    assert delivered(pair) is None
    assert not list((pair.root / "store2" / ".partial").iterdir())


def test_a_file_the_disk_cannot_hold_is_refused_at_its_metadata(tmp_path):
    """A sparse file of 15 TiB, more than this disk has free: the receiver refuses it when its
    metadata comes, a filestore rejection at once, having reserved and written nothing."""
    huge = {"max_file_size": 1 << 50}
    pair = Pair(tmp_path, config1=huge, config2=huge)
    with (tmp_path / "result.bin").open("wb") as f:
        f.truncate(15 << 40)
    pair.e1.put(tmp_path / "result.bin", remote_id=2)
    steps = pair.run(pair.quiet)
    assert outcome(pair.e2).condition == P.Condition.FILESTORE_REJECTION
    assert outcome(pair.e1).condition == P.Condition.FILESTORE_REJECTION
    assert steps < 100
    partial = tmp_path / "store2" / ".partial"
    assert not partial.exists() or not list(partial.iterdir())
    assert delivered(pair) is None


def test_blocks_are_reserved_ahead_of_the_writes_never_for_metadata_alone(pair):
    """The receiver reserves 64 MiB ahead of what it has written, so a metadata PDU alone
    announcing 4 GiB reserves nothing."""
    source(pair, 2_000_000)
    pair.e1.put(pair.root / "result.bin", remote_id=2)
    pair.run(lambda: any(r.received.reserved for r in pair.e2.receivers.values()))
    (t,) = pair.e2.receivers.values()
    assert t.received.total() < 1_000_000  # mid-transfer
    assert (
        t.received.reserved == 2_000_000
    )  # the first write reserved ahead, capped at the file's size
    assert os.fstat(t.fd).st_blocks * 512 >= 2_000_000
    announced = P.Metadata(
        dataclasses.replace(t.header, seq_num=99, toward_sender=False), (4 << 30) - 1, "a", "b"
    )
    pair.e2.receive(P.encode(announced))
    other = pair.e2.receivers[(1, 99)]
    assert other.metadata is not None and other.received.reserved == 0
    assert os.fstat(other.fd).st_blocks == 0


def test_empty_file(pair):
    source(pair, 0)
    pair.e1.put(pair.root / "result.bin", remote_id=2)
    pair.run(pair.quiet)
    assert delivered(pair) == b""


def test_five_percent_loss_both_ways_class2(pair, rng):
    data = source(pair, 400_000)
    pair.link1.drop = lambda pdu: rng.random() < 0.05
    pair.link2.drop = lambda pdu: rng.random() < 0.05
    pair.e1.put(pair.root / "result.bin", remote_id=2)
    pair.run(pair.quiet)
    assert delivered(pair) == data
    assert outcome(pair.e1).delivered
    assert pair.e1.counters["transactions_delivered"] == 1


def test_three_outages_freeze_the_timers(pair):
    data = source(pair, 300_000)
    pair.e1.put(pair.root / "result.bin", remote_id=2)
    for _ in range(3):
        for _ in range(2):
            pair.step()
        pair.link1.is_up = pair.link2.is_up = False
        # Down far longer than the ACK limit and the inactivity timer would allow if they ran.
        for _ in range(30):
            pair.step(dt=10.0)
        pair.link1.is_up = pair.link2.is_up = True
    pair.run(pair.quiet)
    assert delivered(pair) == data
    assert outcome(pair.e1).delivered


@pytest.mark.parametrize(
    "lost", [P.Metadata, P.Eof, P.Finished, P.Ack, P.Nak], ids=lambda k: k.__name__
)
def test_each_directive_lost_once(pair, lost):
    data = source(pair, 50_000)
    seen = []

    def drop(pdu: bytes) -> bool:
        kind = type(P.decode(pdu))
        if kind is lost and kind not in seen:
            seen.append(kind)
            return True
        return False

    pair.link1.drop = pair.link2.drop = drop
    if lost is P.Nak:  # make a NAK necessary: lose one data PDU
        first = []
        pair.link1.drop = lambda pdu: (
            drop(pdu) or (type(P.decode(pdu)) is P.FileData and not first and not first.append(1))
        )
    pair.e1.put(pair.root / "result.bin", remote_id=2)
    pair.run(pair.quiet)
    assert seen == [lost]
    assert delivered(pair) == data
    assert outcome(pair.e1).delivered and outcome(pair.e2).delivered


def test_a_damaged_repeat_of_data_already_received_changes_nothing(pair):
    """Without a PDU CRC a repeat may come damaged after the original: the octets first received
    stay, in the file and in the checksum of its runs alike, so the file delivered is the one
    sent (were the repeat written, the file would differ from the checksum that passed)."""
    data = source(pair, 50_000)
    damaged = []

    def repeat_the_first_damaged(pdu: bytes) -> bool:
        decoded = P.decode(pdu)
        if isinstance(decoded, P.FileData) and decoded.offset > 0 and not damaged:
            first = bytes(b ^ 0xFF for b in data[: decoded.offset])
            damaged.append(P.encode(P.FileData(decoded.header, 0, first)))
            pair.link2.inbox.append(damaged[0])  # after the first segment, before this one
        return False

    pair.link1.drop = repeat_the_first_damaged
    pair.e1.put(pair.root / "result.bin", remote_id=2)
    pair.run(pair.quiet)
    assert damaged
    assert delivered(pair) == data
    assert outcome(pair.e1).delivered and outcome(pair.e2).delivered


@pytest.mark.parametrize("gap_before", [True, False], ids=["after-a-gap", "no-gap"])
def test_an_eof_lost_with_the_tail_is_probed_for_after_round_trips_measured_by_naks(
    pair, gap_before
):
    """An overrun's tail: the EOF is lost and nothing after it brings a NAK. A sender that a NAK
    told the round trip sends the EOF once more after a few round trips (one probe, the ACK timer
    untouched); one that heard no NAK knows no round trip and waits for its ACK timer."""
    data = source(pair, 200_000)
    lost = []

    def drop(pdu: bytes) -> bool:
        kind = type(P.decode(pdu))
        first_of_kind = kind not in [type(p) for p in lost]
        if first_of_kind and (kind is P.Eof or (gap_before and kind is P.FileData)):
            lost.append(P.decode(pdu))
            return True
        return False

    pair.link1.drop = drop
    seq = pair.e1.put(pair.root / "result.bin", remote_id=2)
    start = pair.clock.now
    pair.run(pair.quiet)
    took = pair.clock.now - start
    t = pair.e1.finished_senders[seq]
    assert delivered(pair) == data and outcome(pair.e1).delivered
    assert [type(p) for p in lost] == ([P.FileData] if gap_before else []) + [P.Eof]
    if gap_before:
        assert t.data_round_trip.value is not None
        assert (t.probes, t.tries) == (1, 1)
        assert took < pair.config1.ack_timeout / 3
    else:
        assert (t.probes, t.tries) == (0, 2)
        assert took >= pair.config1.ack_timeout


@pytest.mark.parametrize("acknowledged", [True, False])
def test_corrupted_data_is_never_delivered(pair, acknowledged):
    source(pair, 20_000)
    damaged = []

    def corrupt(pdu: bytes) -> bool:
        if type(P.decode(pdu)) is P.FileData and not damaged:
            damaged.append(1)
            raw = bytearray(pdu)
            raw[-1] ^= 0x40
            pair.link2.inbox.append(bytes(raw))
            return True
        return False

    pair.link1.drop = corrupt
    pair.e1.put(pair.root / "result.bin", remote_id=2, acknowledged=acknowledged)
    pair.run(pair.quiet)
    assert delivered(pair) is None
    assert outcome(pair.e2).condition == P.Condition.FILE_CHECKSUM_FAILURE
    assert not outcome(pair.e2).delivered
    if acknowledged:
        assert outcome(pair.e1).condition == P.Condition.FILE_CHECKSUM_FAILURE
    assert not list((pair.root / "store2" / ".partial").iterdir())


def test_class1_loss_discards_instead_of_delivering_a_hole(pair, rng):
    source(pair, 100_000)
    pair.link1.drop = lambda pdu: type(P.decode(pdu)) is P.FileData and rng.random() < 0.1
    pair.e1.put(pair.root / "result.bin", remote_id=2, acknowledged=False)
    pair.run(pair.quiet)
    assert delivered(pair) is None
    assert outcome(pair.e2).condition == P.Condition.CHECK_LIMIT


@pytest.mark.parametrize("who", [1, 2])
def test_restart_mid_transfer_carries_on(tmp_path, who, rng):
    pair = Pair(
        tmp_path,
        journal=True,
        config1={"snapshot_interval": 0.05},
        config2={"snapshot_interval": 0.05},
    )
    data = source(pair, 500_000)
    pair.link1.drop = lambda pdu: rng.random() < 0.02
    pair.e1.put(pair.root / "result.bin", remote_id=2)
    for _ in range(4):  # 64 PDUs a step: half the file sent, and snapshots taken
        pair.step(dt=0.03)
    assert pair.e1.busy and pair.e2.busy
    pair.restart(who)
    pair.run(pair.quiet)
    assert delivered(pair) == data
    assert [r.delivered for r in pair.e2.reports] == [True]
    assert pair.e1.journal.history()[-1].delivered


def test_cancel_by_request_ends_both_sides(pair):
    source(pair, 300_000)
    seq = pair.e1.put(pair.root / "result.bin", remote_id=2)
    for _ in range(2):  # 128 of the 293 PDUs sent
        pair.step()
    assert pair.e1.cancel(seq)
    pair.run(pair.quiet)
    assert outcome(pair.e1).condition == P.Condition.CANCEL_REQUEST
    assert not outcome(pair.e2).delivered
    assert delivered(pair) is None


@pytest.mark.parametrize("heard", ["nothing", "eof_ack"])
def test_a_sender_restarted_after_the_receiver_finished_ends_once(tmp_path, heard):
    """The receiver delivered and sent Finished; the sender crashed before it recorded the
    answer (it heard nothing, or only the EOF's ACK): restarted from its journal, it learns the
    outcome from the receiver and the file is not delivered twice."""
    pair = Pair(tmp_path, journal=True, config1={"snapshot_interval": 0.05})
    data = source(pair, 20_000)
    pair.link2.drop = lambda pdu: not (heard == "eof_ack" and isinstance(P.decode(pdu), P.Ack))
    pair.e1.put(pair.root / "result.bin", remote_id=2)
    pair.run(lambda: delivered(pair) is not None)  # delivered, its Finished not yet heard
    for _ in range(20):
        pair.step()
    pair.restart(1)
    pair.link2.drop = lambda pdu: False
    pair.run(pair.quiet)
    assert delivered(pair) == data
    assert [r.delivered for r in pair.e2.reports] == [True]
    assert [r.delivered for r in pair.e1.journal.history()] == [True]


def test_a_receiver_restarted_while_its_finished_awaits_its_ack_reports_once(tmp_path):
    """The receiver delivered the file and sent Finished, then lost power before the sender's
    ACK of it came (found by the power cuts of the flight computer VM, where the ACK that came
    after the restart ended the restored transaction with no outcome: an internal error). It
    reports the delivery once, with the file's path."""
    pair = Pair(tmp_path, journal=True, config2={"snapshot_interval": 0.01})
    data = source(pair, 20_000)
    finished_ack = lambda pdu: isinstance(P.decode(pdu), P.Ack)  # noqa: E731  (e1's ACKs)
    pair.link1.drop = finished_ack
    pair.e1.put(pair.root / "result.bin", remote_id=2)
    pair.run(lambda: delivered(pair) is not None)
    for _ in range(20):  # its Finished sent, a snapshot taken, no ACK yet
        pair.step()
    assert not pair.e2.reports
    pair.restart(2)
    pair.link1.drop = lambda pdu: False
    pair.run(pair.quiet)
    assert delivered(pair) == data
    assert [(r.delivered, r.condition) for r in pair.e2.reports] == [(True, P.Condition.NO_ERROR)]
    assert pair.e2.reports[0].path == str(pair.root / "store2" / "result.bin")


def test_directives_are_not_held_behind_file_data_of_more_urgent_transfers(tmp_path):
    """A small, less urgent file is sent first; then a large, more urgent one fills the link.
    The small file's closing exchange (its sender's ACK of the Finished) must not wait for the
    large file's data: found by the crash test during downlink, where a starved sender ran out
    of EOF retries and the file was sent twice."""
    pair = Pair(tmp_path, per_step=8)
    (pair.root / "small.bin").write_bytes(os.urandom(3_000))
    (pair.root / "large.bin").write_bytes(os.urandom(3_000_000))
    small = pair.e1.put(pair.root / "small.bin", remote_id=2, priority=200)
    pair.run(lambda: delivered(pair, "small.bin") is not None)
    pair.e1.put(pair.root / "large.bin", remote_id=2, priority=0)
    pair.run(lambda: any(r.seq_num == small for r in pair.e1.reports))
    assert pair.e1.busy and delivered(pair, "large.bin") is None  # the large one still going
    (report,) = pair.e1.reports
    assert report.delivered and report.condition == P.Condition.NO_ERROR


def test_a_round_trip_longer_than_the_ack_timer_is_measured_and_nothing_repeats_for_it(tmp_path):
    """A link whose round trip (4 s) is longer than the ACK timer (3 s), as the passes scenario's
    radio with its second of delay each way: the first file's EOF and Finished may go twice, before
    any round trip is known; then the timers follow the measured round trip and the next files
    go with one EOF and one Finished each. The answers to a repeat that reach a transaction
    already ended are late, not refused (the payload counted them in pdus_refused)."""
    pair = Pair(tmp_path, delay=2.0)
    sent = {1: [], 2: []}
    for n, link in ((1, pair.link1), (2, pair.link2)):
        link.drop = lambda pdu, n=n: sent[n].append(P.decode(pdu)) and False
    for name in ("a.bin", "b.bin", "c.bin"):
        (pair.root / name).write_bytes(os.urandom(5_000))
    directives = []
    for name in ("a.bin", "b.bin", "c.bin"):
        pair.e1.put(pair.root / name, name, remote_id=2)
        pair.run(pair.quiet, dt=0.1)
        eofs = sum(isinstance(p, P.Eof) for p in sent[1])
        finished = sum(isinstance(p, P.Finished) for p in sent[2])
        directives.append((eofs, finished))
        sent[1].clear()
        sent[2].clear()
    assert directives[0][0] >= 2  # learning: no round trip was known, the timer was too short
    assert directives[1:] == [(1, 1), (1, 1)]
    assert pair.e1.round_trip(2).value == pytest.approx(4.0, abs=0.2)
    assert pair.e2.round_trip(1).value == pytest.approx(4.0, abs=0.2)
    for entity in (pair.e1, pair.e2):
        assert not [k for k in entity.counters if k.startswith("pdu_refused")]
    assert pair.e1.counters["pdu_late"] + pair.e2.counters["pdu_late"] >= 1
    assert [r.delivered for r in pair.e2.reports] == [True, True, True]
