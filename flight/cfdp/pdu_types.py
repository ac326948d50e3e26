"""The CFDP PDU types (CCSDS 727.0-B-5 section 5): the directive, condition, checksum and status
codes, the fixed header of a transaction, and one dataclass per PDU. pdu.py encodes and decodes
them, and is where the rest of the code takes them from."""

from __future__ import annotations

import dataclasses
import enum
import struct
from dataclasses import dataclass, field

VERSION = 1
MAX_ID_LEN = 8


class PduError(ValueError):
    """A PDU that cannot be decoded; ``reason`` names the rule it broke."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class Directive(enum.IntEnum):
    EOF = 0x04
    FINISHED = 0x05
    ACK = 0x06
    METADATA = 0x07
    NAK = 0x08
    PROMPT = 0x09
    KEEP_ALIVE = 0x0C


class Condition(enum.IntEnum):
    NO_ERROR = 0
    POSITIVE_ACK_LIMIT = 1
    KEEP_ALIVE_LIMIT = 2
    INVALID_TRANSMISSION_MODE = 3
    FILESTORE_REJECTION = 4
    FILE_CHECKSUM_FAILURE = 5
    FILE_SIZE_ERROR = 6
    NAK_LIMIT = 7
    INACTIVITY = 8
    INVALID_FILE_STRUCTURE = 9
    CHECK_LIMIT = 10
    UNSUPPORTED_CHECKSUM = 11
    SUSPEND_REQUEST = 14
    CANCEL_REQUEST = 15


class ChecksumType(enum.IntEnum):
    """SANA checksum identifiers."""

    MODULAR = 0
    PROXIMITY1_CRC32 = 1
    CRC32C = 2
    CRC32 = 3
    NULL = 15


class FileStatus(enum.IntEnum):
    DISCARDED_DELIBERATELY = 0
    DISCARDED_BY_FILESTORE = 1
    RETAINED = 2
    UNREPORTED = 3


class TransactionStatus(enum.IntEnum):
    UNDEFINED = 0
    ACTIVE = 1
    TERMINATED = 2
    UNRECOGNIZED = 3


TLV_ENTITY_ID = 0x06
TLV_MESSAGE_TO_USER = 0x02

_FSS = {False: struct.Struct(">I"), True: struct.Struct(">Q")}
_LEN = struct.Struct(">H")


@dataclass(frozen=True, slots=True)
class Header:
    """The fixed PDU header of one transaction, one direction, one PDU type."""

    source_id: int
    seq_num: int
    dest_id: int
    acknowledged: bool = True
    toward_sender: bool = False
    crc: bool = False
    large_file: bool = False
    id_len: int = 2
    seq_len: int = 4

    def prefix(self, file_data: bool) -> bytes:
        """The header without its data field length: bytes 0, 3 and the ids."""
        for name, value, size in (
            ("source entity id", self.source_id, self.id_len),
            ("transaction sequence number", self.seq_num, self.seq_len),
            ("destination entity id", self.dest_id, self.id_len),
        ):
            if not 1 <= size <= MAX_ID_LEN or not 0 <= value < 1 << (8 * size):
                raise ValueError(f"{name} {value} does not fit in {size} octets")
        first = (
            VERSION << 5
            | int(file_data) << 4
            | int(self.toward_sender) << 3
            | int(not self.acknowledged) << 2
            | int(self.crc) << 1
            | int(self.large_file)
        )
        third = (self.id_len - 1) << 4 | (self.seq_len - 1)
        return (
            bytes((first,))
            + b"\0\0"
            + bytes((third,))
            + self.source_id.to_bytes(self.id_len, "big")
            + self.seq_num.to_bytes(self.seq_len, "big")
            + self.dest_id.to_bytes(self.id_len, "big")
        )

    @property
    def fss(self) -> struct.Struct:
        return _FSS[self.large_file]

    def replying(self) -> Header:
        """The header of a PDU going the other way in the same transaction."""
        return dataclasses.replace(self, toward_sender=not self.toward_sender)


@dataclass(slots=True)
class FileData:
    header: Header
    offset: int
    data: bytes | memoryview


@dataclass(slots=True)
class Metadata:
    header: Header
    file_size: int
    source_name: str
    dest_name: str
    checksum_type: ChecksumType = ChecksumType.CRC32C
    closure_requested: bool = False
    messages: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class Eof:
    header: Header
    condition: Condition
    checksum: int
    file_size: int
    fault_entity: int | None = None


@dataclass(slots=True)
class Finished:
    header: Header
    condition: Condition
    complete: bool
    status: FileStatus
    fault_entity: int | None = None


@dataclass(slots=True)
class Ack:
    header: Header
    directive: Directive
    condition: Condition
    status: TransactionStatus


@dataclass(slots=True)
class Nak:
    header: Header
    start: int
    end: int
    segments: list[tuple[int, int]]


@dataclass(slots=True)
class Prompt:
    header: Header
    keep_alive: bool


@dataclass(slots=True)
class KeepAlive:
    header: Header
    progress: int


Pdu = FileData | Metadata | Eof | Finished | Ack | Nak | Prompt | KeepAlive
