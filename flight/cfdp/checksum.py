"""CFDP file checksums (727.0-B-5 4.2.2) through the native core: running, of data received
in any order, and whole-file."""

from __future__ import annotations

import os
from collections.abc import Callable

import native
from flight.cfdp.pdu import ChecksumType
from flight.cfdp.segments import Segments

READ_CHUNK = 1 << 20
SUPPORTED = frozenset(ChecksumType)

Data = bytes | bytearray | memoryview
# Each checksum's update (data lying at a file offset, added to a previous value) and its
# combination of the values of two adjacent runs (the second's length given).
_UPDATE: dict[ChecksumType, Callable[[Data, int, int], int]] = {
    ChecksumType.MODULAR: native.cfdp_modular,
    ChecksumType.PROXIMITY1_CRC32: lambda data, offset, value: native.crc32_prox1(data, value),
    ChecksumType.CRC32C: lambda data, offset, value: native.crc32c(data, value),
    ChecksumType.CRC32: lambda data, offset, value: native.crc32(data, value),
    ChecksumType.NULL: lambda data, offset, value: 0,
}
_COMBINE: dict[ChecksumType, Callable[[int, int, int], int]] = {
    ChecksumType.MODULAR: lambda a, b, length: (a + b) & 0xFFFFFFFF,
    ChecksumType.PROXIMITY1_CRC32: native.crc32_prox1_combine,
    ChecksumType.CRC32C: native.crc32c_combine,
    ChecksumType.CRC32: native.crc32_combine,
    ChecksumType.NULL: lambda a, b, length: 0,
}


class RunningChecksum:
    """A checksum fed with the file's data in order from offset 0 (the modular one in any order)."""

    def __init__(self, kind: ChecksumType) -> None:
        self.kind = kind
        self.value = 0
        self._update = _UPDATE[kind]

    def update(self, data: Data, offset: int) -> None:
        self.value = self._update(data, offset, self.value)


class ChecksumOfRuns:
    """A file's checksum from its data received in any order, repeats included: each run of
    consecutive octets keeps its own checksum, continued as data extends it, and two runs that
    meet are joined (CRCs by the native core's combination, the modular sum by adding). A
    complete file's checksum is then known without reading the file back."""

    def __init__(self, kind: ChecksumType) -> None:
        self.runs = Segments()
        self.values: dict[int, int] = {}  # each run's start: its checksum
        self._update = _UPDATE[kind]
        self._combine = _COMBINE[kind]

    def add(self, offset: int, data: Data) -> None:
        """Data lying at ``offset``; octets already received count once."""
        runs, values = self.runs, self.values
        for start, end in runs.missing(offset, offset + len(data)):
            piece = data[start - offset : end - offset]
            before = runs.run_containing(start - 1) if start > 0 else None
            first = start if before is None else before[0]
            value = self._update(piece, start, 0 if before is None else values.pop(first))
            runs.add(start, end)
            joined_end = runs.run_containing(start)[1]
            if joined_end > end:  # a run after it, from end, is now part of it
                value = self._combine(value, values.pop(end), joined_end - end)
            values[first] = value

    def value(self, size: int) -> int | None:
        """The checksum of the file's ``size`` octets, or None until exactly they are here."""
        if size == 0:
            return 0 if not self.values else None
        return self.values.get(0) if self.runs.ranges() == [(0, size)] else None


def file_checksum(kind: ChecksumType, fd: int, size: int) -> int:
    """The checksum of the first ``size`` octets of an open file."""
    running = RunningChecksum(kind)
    if kind == ChecksumType.NULL:
        return 0
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(READ_CHUNK, size - offset), offset)
        if not chunk:
            break
        running.update(chunk, offset)
        offset += len(chunk)
    return running.value
