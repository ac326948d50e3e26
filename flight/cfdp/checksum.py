"""CFDP file checksums (727.0-B-5 4.2.2) through the native core: running and whole-file."""

from __future__ import annotations

import os

import native
from flight.cfdp.pdu import ChecksumType

READ_CHUNK = 1 << 20
SUPPORTED = frozenset(ChecksumType)


class RunningChecksum:
    """A checksum fed with the file's data in order from offset 0 (the modular one in any order)."""

    def __init__(self, kind: ChecksumType) -> None:
        self.kind = kind
        self.value = 0

    def update(self, data: bytes | memoryview, offset: int) -> None:
        kind = self.kind
        if kind == ChecksumType.CRC32C:
            self.value = native.crc32c(data, self.value)
        elif kind == ChecksumType.CRC32:
            self.value = native.crc32(data, self.value)
        elif kind == ChecksumType.MODULAR:
            self.value = native.cfdp_modular(data, offset, self.value)
        elif kind == ChecksumType.PROXIMITY1_CRC32:
            self.value = native.crc32_prox1(data, self.value)


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
