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
    """A file's checksum from its data received in any order: each run of consecutive octets in
    the ranges its owner keeps (``runs``) has its own checksum, continued as data extends it,
    and two runs that meet are joined (CRCs by the native core's combination, the modular sum by
    adding). A complete file's checksum is then known without reading the file back."""

    def __init__(self, kind: ChecksumType, runs: Segments) -> None:
        self.runs = runs
        self.values: dict[int, int] = {}  # each run's start: its checksum
        self._update = _UPDATE[kind]
        self._combine = _COMBINE[kind]

    def add(self, start: int, piece: Data) -> None:
        """Data not received before, lying at ``start``: its owner records it in ``runs`` next
        (a run that ends at ``start`` or begins at its end is joined to it)."""
        runs, values = self.runs, self.values
        end = start + len(piece)
        before = runs.run_containing(start - 1) if start > 0 else None
        first = start if before is None else before[0]
        value = self._update(piece, start, 0 if before is None else values.pop(first))
        after = runs.run_containing(end)
        if after is not None:
            value = self._combine(value, values.pop(end), after[1] - end)
        values[first] = value

    def value(self, size: int) -> int | None:
        """The checksum of the file's ``size`` octets, or None until they are all here."""
        if size == 0:
            return 0
        return self.values.get(0) if self.runs.covers(size) else None


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
