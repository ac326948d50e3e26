"""The CFDP management information base: what an entity needs to know to run transactions."""

from __future__ import annotations

from dataclasses import dataclass

from flight.cfdp.pdu import ChecksumType


@dataclass(frozen=True)
class EntityConfig:
    """One CFDP entity's settings. Times are in the entity's clock (bus seconds on board)."""

    entity_id: int
    id_len: int = 2
    seq_len: int = 4
    segment_size: int = 1024
    checksum: ChecksumType = ChecksumType.CRC32C
    pdu_crc: bool = False
    ack_timeout: float = 3.0  # and the shortest: measured round trips lengthen it
    ack_timeout_max: float = 60.0  # the longest the measured round trips may make it
    ack_limit: int = 20
    nak_timeout: float = 1.0
    nak_limit: int = 50
    immediate_nak: bool = True
    adapt_rate: bool = False  # class 2 file data paced down when NAKs show congestion
    # (flight/cfdp/congestion.py): the stand-alone UDP endpoints; on board the bus sets the share
    inactivity_timeout: float = 120.0
    check_timeout: float = 2.0
    max_file_size: int = 1 << 32
    max_transactions: int = 256
    snapshot_interval: float = 1.0
    keep_finished: int = 1024

    def __post_init__(self) -> None:
        if not 0 <= self.entity_id < 1 << (8 * self.id_len):
            raise ValueError(f"entity id {self.entity_id} does not fit in {self.id_len} octets")
        if not 1 <= self.segment_size <= 65000:
            raise ValueError(f"segment size {self.segment_size} outside 1..65000 octets")
