"""Malformed and hostile PDUs at a receiving entity: refused, counted, and nothing written
outside the file store."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

import native
from flight.cfdp import pdu as P
from tests.cfdp.conftest import Pair


def metadata(dest: str, size: int = 10, seq: int = 7) -> bytes:
    return P.encode(P.Metadata(P.Header(1, seq, 2), size, "x", dest))


def test_names_that_leave_the_store_are_refused(pair, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (pair.root / "store2").mkdir(exist_ok=True)
    os.symlink(outside, pair.root / "store2" / "link")
    names = ["../escape", "/../escape", "a/../../b", "link/file", "/link/file", ".partial/x",
             "/.partial/x", "nul\0name", "/"]  # fmt: skip
    for seq, name in enumerate(names, start=1):
        h = P.Header(1, seq, 2)
        pair.link1.send(metadata(name, 4, seq))
        pair.link1.send(P.encode(P.FileData(h, 0, b"evil")))
        pair.link1.send(P.encode(P.Eof(h, P.Condition.NO_ERROR, 0x6576696C, 4)))
    pair.run(lambda: not pair.e2.busy and not pair.link2.inbox, max_steps=2000)
    assert not list(outside.iterdir())
    assert not (pair.root / "escape").exists()
    conditions = [r.condition for r in pair.e2.reports]
    assert conditions == [P.Condition.FILESTORE_REJECTION] * len(names)
    assert not any(r.delivered for r in pair.e2.reports)
    # each report still says what was asked for, and how long it was
    assert [(r.dest_name, r.size) for r in pair.e2.reports] == [(n, 4) for n in names]


def test_names_from_the_root_of_a_virtual_file_store_land_inside_the_store(pair, tmp_path):
    """cFS CF and LibreCube users name files from their virtual file store's root: a leading
    slash is this store's root, never the machine's."""
    names = ["/payload.bin", "/cf/down/x.bin", "//etc/passwd", "/./a/b.bin", "plain.bin"]
    for seq, name in enumerate(names, start=1):
        h = P.Header(1, seq, 2)
        pair.link1.send(metadata(name, 4, seq))
        pair.link1.send(P.encode(P.FileData(h, 0, b"good")))
        pair.link1.send(P.encode(P.Eof(h, P.Condition.NO_ERROR, native.crc32c(b"good"), 4)))
    pair.run(lambda: not pair.e2.busy and not pair.link2.inbox, max_steps=2000)
    store = pair.root / "store2"
    assert [(r.dest_name, r.delivered) for r in pair.e2.reports] == [(n, True) for n in names]
    for landed in ("payload.bin", "cf/down/x.bin", "etc/passwd", "a/b.bin", "plain.bin"):
        assert (store / landed).read_bytes() == b"good"
    assert [r.path for r in pair.e2.reports] == [
        str(store / p)
        for p in ("payload.bin", "cf/down/x.bin", "etc/passwd", "a/b.bin", "plain.bin")
    ]


def test_offsets_past_the_announced_size_are_refused_and_counted(pair):
    h = P.Header(1, 3, 2)
    pair.link1.send(metadata("ok.bin", 10, 3))
    pair.link1.send(P.encode(P.FileData(h, 8, b"toolong")))
    pair.link1.send(P.encode(P.FileData(h, 0xFFFFFFF0, b"far")))
    pair.step()
    assert pair.e2.counters["pdu_refused_out_of_range"] == 2
    partial = pair.root / "store2" / ".partial" / "1-3"
    assert partial.stat().st_size == 0


def test_data_without_metadata_is_bounded_by_the_store_limit(tmp_path):
    pair = Pair(tmp_path, config2={"max_file_size": 1000})
    pair.link1.send(P.encode(P.FileData(P.Header(1, 4, 2), 999, b"xy")))
    pair.step()
    assert pair.e2.counters["pdu_refused_out_of_range"] == 1


def test_unknown_transactions_and_strangers_are_counted(pair):
    pair.link1.send(
        P.encode(
            P.Ack(
                P.Header(2, 99, 1, toward_sender=False),
                P.Directive.FINISHED,
                P.Condition.NO_ERROR,
                P.TransactionStatus.ACTIVE,
            )
        )
    )
    pair.link1.send(P.encode(P.Nak(P.Header(2, 99, 1, toward_sender=True), 0, 10, [(0, 10)])))
    pair.link1.send(P.encode(P.FileData(P.Header(1, 5, 3), 0, b"for entity 3")))
    pair.link1.send(b"\x00\x01")
    pair.step()
    c = pair.e2.counters
    assert c["pdu_refused_unknown_transaction"] == 1
    assert c["pdu_refused_not_ours"] == 2
    assert c["pdu_refused_truncated"] + c["pdu_refused_version"] == 1
    assert not pair.e2.busy


def test_a_flood_of_transactions_is_capped(tmp_path):
    pair = Pair(tmp_path, config2={"max_transactions": 5})
    for seq in range(20):
        pair.link1.send(P.encode(P.FileData(P.Header(1, seq, 2), 0, b"x")))
    pair.step()
    assert len(pair.e2.receivers) == 5
    assert pair.e2.counters["pdu_refused_too_many_transactions"] == 15


valid_then_damaged = st.builds(
    lambda name, size, cut, flip: bytearray(metadata(name, size))[:cut] + bytes([flip]),
    st.text(max_size=30),
    st.integers(0, (1 << 32) - 1),
    st.integers(0, 60),
    st.integers(0, 255),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=80) | valid_then_damaged, max_size=20))
def test_any_byte_sequences_leave_the_entity_standing(tmp_path_factory, pdus):
    """Nothing raises, and nothing but partial files appears: no PDU here is complete."""
    pair = Pair(tmp_path_factory.mktemp("fuzz"))
    for raw in pdus:
        pair.link1.send(raw)
    for _ in range(3):
        pair.step(dt=50.0)
    assert {p.name for p in pair.root.iterdir()} == {"store1", "store2"}
    assert not [p for p in (pair.root / "store2").iterdir() if p.name != ".partial"]
