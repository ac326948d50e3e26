"""CFDP file checksums (727.0-B-5 4.2.2) through the native core: running and whole-file (the
receiver keeps one for each run of data received in any order in native.reception)."""

from __future__ import annotations

import os
from collections.abc import Callable

import native
from flight.cfdp.pdu import ChecksumType

READ_CHUNK = 1 << 20
SUPPORTED = frozenset(ChecksumType)

Data = bytes | bytearray | memoryview
# Each checksum's update: data lying at a file offset, added to a previous value.
_UPDATE: dict[ChecksumType, Callable[[Data, int, int], int]] = {
    ChecksumType.MODULAR: native.cfdp_modular,
    ChecksumType.PROXIMITY1_CRC32: lambda data, offset, value: native.crc32_prox1(data, value),
    ChecksumType.CRC32C: lambda data, offset, value: native.crc32c(data, value),
    ChecksumType.CRC32: lambda data, offset, value: native.crc32(data, value),
    ChecksumType.NULL: lambda data, offset, value: 0,
}


class RunningChecksum:
    """A checksum fed with the file's data in order from offset 0 (the modular one in any order)."""

    def __init__(self, kind: ChecksumType) -> None:
        self.kind = kind
        self.value = 0
        self._update = _UPDATE[kind]

    def update(self, data: Data, offset: int) -> None:
        self.value = self._update(data, offset, self.value)


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
