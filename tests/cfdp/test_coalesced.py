"""PDUs handed over coalesced, as UDP GRO does (``Entity.receive_datagrams``: file data taken by
the native core's data path many PDUs to a call), end exactly as the same PDUs received one by
one: the same file, the same NAKs and answers, the same counters, whatever the order, losses,
duplicates, damage, strangers and sizes."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.cfdp import pdu as P
from flight.cfdp.entity import Entity
from flight.cfdp.filestore import FileStore
from flight.cfdp.mib import EntityConfig
from native.reception import FileReception
from tests.cfdp.conftest import Clock, MemoryLink

SEGMENT = 100
GRO_SEGMENTS = 64


def pdus(data: bytes, seq: int, crc: bool) -> list[bytes]:
    header = P.Header(1, seq, 2, crc=crc)
    encoder = P.FileDataEncoder(header)
    return (
        [P.encode(P.Metadata(header, len(data), "src.bin", f"out{seq}.bin"))]
        + [encoder.encode(at, data[at : at + SEGMENT]) for at in range(0, len(data), SEGMENT)]
        + [P.encode(P.Eof(header, P.Condition.NO_ERROR, native_crc32c(data), len(data)))]
    )


def native_crc32c(data: bytes) -> int:
    import native

    return native.crc32c(data)


def coalesced(stream: list[bytes]) -> list[tuple[bytes, int]]:
    """The stream as GRO hands it over: consecutive datagrams of one size joined (at most 64),
    a shorter one ending a group; an empty one is never joined."""
    out: list[list[bytes]] = []
    for pdu in stream:
        group = out[-1] if out else None
        if (
            group
            and 0 < len(pdu) <= len(group[0])
            and len(group[-1]) == len(group[0])
            and len(group) < GRO_SEGMENTS
        ):
            group.append(pdu)
        else:
            out.append([pdu])
    return [(b"".join(g), len(g[0])) for g in out]


def entity(root: Path, clock: Clock) -> tuple[Entity, MemoryLink]:
    link = MemoryLink("rx", clock=clock)
    link.other = MemoryLink("tx", clock=clock)
    return Entity(EntityConfig(2, max_file_size=20_000), link, FileStore(root), None, clock), link


def outcome(e: Entity, link: MemoryLink, root: Path) -> tuple:
    files = {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}
    return dict(e.counters), link.sent, [r.__dict__ for r in e.reports], files


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.integers(0, 3000),
    crc=st.booleans(),
    seed=st.randoms(use_true_random=False),
    drop=st.floats(0, 0.3),
    dup=st.floats(0, 0.2),
    flip=st.floats(0, 0.1),
    strangers=st.lists(st.binary(min_size=0, max_size=130), max_size=5),
)
def test_coalesced_pdus_end_as_the_same_pdus_one_by_one(
    tmp_path_factory, size, crc, seed, drop, dup, flip, strangers
):
    data = os.urandom(size)
    other = os.urandom(700)
    stream = []
    for pdu in pdus(data, 7, crc) + pdus(other, 8, crc)[:-1]:
        if seed.random() < drop:
            continue
        if seed.random() < flip:
            raw = bytearray(pdu)
            raw[seed.randrange(len(raw))] ^= 1 << seed.randrange(8)
            pdu = bytes(raw)
        stream.append(pdu)
        if seed.random() < dup:
            stream.insert(seed.randrange(len(stream) + 1), pdu)
    for junk in strangers:
        stream.insert(seed.randrange(len(stream) + 1), junk)
    beyond = P.FileDataEncoder(P.Header(1, 7, 2, crc=crc)).encode(size + 50, b"z" * SEGMENT)
    stream.insert(seed.randrange(len(stream) + 1), beyond)

    results = []
    for one_by_one in (True, False):
        root = tmp_path_factory.mktemp("store")
        clock = Clock()
        e, link = entity(root, clock)
        if one_by_one:
            for pdu in stream:
                e.receive(pdu)
        else:
            for buf, stride in coalesced(stream):
                e.receive_datagrams(buf, stride)
        for _ in range(5):
            clock.now += 1.0
            e.poll()
        results.append(outcome(e, link, root))
    assert results[0] == results[1]


def test_a_clean_coalesced_transfer_is_written_a_run_at_a_time_and_delivered_intact(
    tmp_path, monkeypatch
):
    data = os.urandom(10_000)
    clock = Clock()
    e, link = entity(tmp_path, clock)
    stream = pdus(data, 7, True)
    groups = coalesced(stream)
    # Metadata alone; 64 PDUs of data; 36 and the EOF, shorter, riding last.
    assert [stride for _, stride in groups] == [len(stream[0]), 118, 118]
    writes = []  # octets written by each call of the native data path
    put = FileReception.put

    def counted(reception: FileReception, datagrams: memoryview, stride: int) -> int:
        before = reception.rx.written
        taken = put(reception, datagrams, stride)
        writes.append(reception.rx.written - before)
        return taken

    monkeypatch.setattr(FileReception, "put", counted)
    for buf, stride in groups:
        e.receive_datagrams(buf, stride)
    for _ in range(5):
        clock.now += 1.0
        e.poll()
    assert (tmp_path / "out7.bin").read_bytes() == data
    assert writes == [6400, 3600]
