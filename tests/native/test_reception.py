"""The native data path of a file being received (``native.reception``), driven with real file
data PDUs and a real file against a reference model: pieces in any order, overlapping, repeated
with other octets, past the file's size, coalesced many to a call, mixed with PDUs of another
transaction and damaged ones. The file holds the octets that came first, the ranges and gaps are
the model's, the checksum kept (every CFDP type) is that of the whole file once it is complete
and only then, and the gaps NAKed at once are those data past the highest octet opened."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.cfdp import pdu as P
from flight.cfdp.checksum import RunningChecksum
from native import reception
from native.reception import OTHER, WRITE_FAILED, FileReception

HEADER = P.Header(3, 17, 4, crc=True)
STRANGER = P.Header(3, 18, 4, crc=True)


def key(header: P.Header) -> bytes:
    prefix = header.prefix(True)
    return prefix[:1] + prefix[3:]


class Model:
    """What a receiver must end with: the first octets to come at each offset."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.first: dict[int, int] = {}
        self.high = 0
        self.opened: list[tuple[int, int]] = []
        self.refused = 0
        self.repairs = 0  # PDUs below the highest octet that brought octets not here before

    def take(self, offset: int, data: bytes) -> None:
        if offset + len(data) > self.size:
            self.refused += 1
            return
        new = [offset + i for i in range(len(data)) if offset + i not in self.first]
        self.repairs += any(at < self.high for at in new)
        for i, octet in enumerate(data):
            self.first.setdefault(offset + i, octet)
        if offset > self.high:
            self.opened.append((self.high, offset))
        self.high = max(self.high, offset + len(data))

    def ranges(self) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for at in sorted(self.first):
            if out and out[-1][1] == at:
                out[-1] = (out[-1][0], at + 1)
            else:
                out.append((at, at + 1))
        return out

    def gaps(self) -> list[tuple[int, int]]:
        out, at = [], 0
        for start, end in self.ranges():
            if start > at:
                out.append((at, start))
            at = end
        return out + ([(at, self.size)] if at < self.size else [])


piece = st.tuples(
    st.integers(0, 4200),  # offset: some past the file's 4000 octets
    st.sampled_from(["file", "file", "other octets", "stranger", "damaged"]),
)
# As GRO hands datagrams over: of one length, but the last, which may be shorter.
batch = st.tuples(
    st.integers(0, 300), st.lists(piece, min_size=1, max_size=12), st.integers(0, 300)
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.binary(min_size=4000, max_size=4000),
    st.lists(batch, max_size=12),
    st.sampled_from(list(P.ChecksumType)),
)
def test_the_file_ranges_gaps_and_checksum_are_the_models(tmp_path, data, batches, kind):
    size = len(data)
    fd = os.open(tmp_path / f"part{kind}", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        rx = FileReception(key(HEADER), fd, size, immediate_nak=True)
        rx.set_checksum(int(kind))
        rx.set_limit(size, size)
        model = Model(size)
        for length, pieces, last in batches:
            lengths = [length] * (len(pieces) - 1) + [min(last, length)]
            stride = len(P.encode(P.FileData(HEADER, 0, bytes(length))))
            datagrams, meant = b"", []
            for (offset, what), n in zip(pieces, lengths, strict=True):
                octets = data[offset : offset + n].ljust(n, b"\x01")
                if what == "other octets":
                    octets = bytes(b ^ 0xA5 for b in octets)
                header = STRANGER if what == "stranger" else HEADER
                pdu = P.encode(P.FileData(header, offset, octets))
                if what == "damaged":  # a CRC that fails
                    pdu = pdu[:-1] + bytes([pdu[-1] ^ 1])
                datagrams += pdu
                meant.append((offset, octets, what))
            at = 0
            while at < len(datagrams):  # as the entity does: what is not taken, skipped
                taken = rx.put(memoryview(datagrams)[at:], stride)
                for offset, octets, what in meant[
                    at // stride : (at + taken + stride - 1) // stride
                ]:
                    assert what in ("file", "other octets")
                    model.take(offset, octets)
                at += taken
                if at < len(datagrams):
                    assert rx.stopped == OTHER
                    assert meant[at // stride][2] in ("stranger", "damaged")
                    at += stride
        assert rx.ranges() == model.ranges()
        assert rx.gaps(size) == model.gaps()
        assert rx.opened == model.opened
        written, refused, repairs = rx.take_counts()
        assert written == len(model.first) and refused == model.refused
        assert repairs == model.repairs
        for start, end in model.ranges():
            expected = bytes(model.first[i] for i in range(start, end))
            assert os.pread(fd, end - start, start) == expected
        assert rx.checksum(size) is None or not model.gaps()
        for start, end in model.gaps():  # what is missing, from the file itself
            rx.data(start, data[start:end])
        whole = RunningChecksum(kind)
        whole.update(os.pread(fd, size, 0), 0)
        assert rx.covers(size) and rx.checksum(size) == whole.value
    finally:
        os.close(fd)


def test_runs_grow_until_their_limit_then_data_that_needs_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(reception, "RUNS_MAX", 128)
    fd = os.open(tmp_path / "part", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        rx = FileReception(key(HEADER), fd, 10_000, immediate_nak=False)
        for offset in range(0, 2000, 10):  # 200 runs apart
            rx.data(offset, b"x")
        assert len(rx.ranges()) == 128 and rx.take_counts()[1] == 72
        rx.data(1, b"y")  # joins a run: taken
        assert rx.ranges()[0] == (0, 2)
        rx.data(5000, b"z")  # would need a run of its own: refused
        assert rx.ranges()[-1] == (1270, 1271) and rx.take_counts()[1] == 1
        assert rx.opened == []  # no immediate NAKs asked for
    finally:
        os.close(fd)


def test_a_write_that_fails_is_reported_and_nothing_more_is_taken(tmp_path):
    path = tmp_path / "part"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        rx = FileReception(key(HEADER), fd, 10_000, immediate_nak=True)
        pdu = P.encode(P.FileData(HEADER, 0, b"abc"))
        assert rx.put(pdu, len(pdu)) == len(pdu)
        assert rx.stopped == WRITE_FAILED and rx.error.errno == 9  # EBADF
        assert rx.put(pdu, len(pdu)) == 0
    finally:
        os.close(fd)


def test_a_key_that_is_no_cfdp_header_is_refused():
    with pytest.raises(ValueError):
        FileReception(b"", -1, 1, immediate_nak=False)
    with pytest.raises(ValueError):
        FileReception(bytes(29), -1, 1, immediate_nak=False)
