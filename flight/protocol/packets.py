"""PUS-C telecommand and telemetry packets: CCSDS Space Packets with ECSS-E-ST-70-41C secondary
headers and a CRC-16/CCITT-FALSE packet error control field.

Layout (octets):
  TC: primary header (6) | PUS version 2 + ack flags (1) | service (1) | subtype (1) |
      source id (2) | application data | CRC-16 (2)
  TM: primary header (6) | PUS version 2 + time reference status (1) | service (1) | subtype (1) |
      message type counter (2) | destination id (2) | CUC time (6) | source data | CRC-16 (2)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import native
from flight.dictionary import APIDS, MAX_PACKET_LEN, FailureCode
from flight.protocol.timecode import CUC_LEN, decode_cuc, split_cuc

PUS_VERSION = 2
TC_SECONDARY_LEN = 5
TM_SECONDARY_LEN = 7 + CUC_LEN
TM_HEADERS_LEN = 6 + TM_SECONDARY_LEN
CRC_LEN = 2
TYPE_TC = 1
TIME_SYNCED = 1


class PacketError(ValueError):
    """A packet that cannot be accepted: the PUS 1 failure code and the four request-id octets
    (None when too few octets arrived to name the request)."""

    def __init__(self, code: FailureCode, message: str, request_id: bytes | None = None):
        super().__init__(message)
        self.code = code
        self.request_id = request_id


@dataclass(frozen=True)
class Telecommand:
    """A decoded PUS-C telecommand."""

    apid: int
    seq_count: int
    service: int
    subtype: int
    source_id: int
    ack_flags: int
    app_data: bytes

    @property
    def request_id(self) -> bytes:
        """The PUS request id: the first four octets of the primary header."""
        return struct.pack(">HH", (1 << 12) | (1 << 11) | self.apid, (3 << 14) | self.seq_count)


@dataclass(frozen=True)
class Telemetry:
    """A decoded PUS-C telemetry packet."""

    apid: int
    seq_count: int
    service: int
    subtype: int
    msg_counter: int
    dest_id: int
    time: float
    time_synced: bool
    source_data: bytes


def append_crc(header_and_body: bytes) -> bytes:
    """The octets with their packet error control (CRC-16) appended."""
    return header_and_body + struct.pack(">H", native.crc16(header_and_body))


def build_tc(
    apid: int,
    seq_count: int,
    service: int,
    subtype: int,
    app_data: bytes = b"",
    *,
    source_id: int,
    ack_flags: int,
) -> bytes:
    """Encode a telecommand; ValueError if a field is out of range or it exceeds the MTU."""
    body = struct.pack(">BBBH", (PUS_VERSION << 4) | ack_flags, service, subtype, source_id)
    return _packet(TYPE_TC, apid, seq_count, body + app_data)


def build_tm(
    apid: int,
    seq_count: int,
    service: int,
    subtype: int,
    source_data: bytes = b"",
    *,
    msg_counter: int,
    dest_id: int,
    time: float,
    time_synced: bool,
) -> bytes:
    """Encode a telemetry packet (in the C core); ValueError if a field is out of range or it
    exceeds the MTU."""
    if TM_HEADERS_LEN + len(source_data) + CRC_LEN > MAX_PACKET_LEN:
        raise ValueError(f"telemetry packet exceeds the {MAX_PACKET_LEN}-octet MTU")
    coarse, fine = split_cuc(time)
    try:
        return native.pack_tm(
            apid=apid,
            seq_count=seq_count,
            service=service,
            subtype=subtype,
            msg_counter=msg_counter,
            dest_id=dest_id,
            coarse_time=coarse,
            fine_time=fine,
            time_synced=time_synced,
            data=source_data,
        )
    except OverflowError:
        raise ValueError("telemetry packet field out of range") from None


def _packet(ptype: int, apid: int, seq_count: int, body: bytes) -> bytes:
    length = native.PRIMARY_HEADER_LEN + len(body) + CRC_LEN
    if length > MAX_PACKET_LEN:
        raise ValueError(f"packet of {length} octets exceeds the {MAX_PACKET_LEN}-octet MTU")
    header = native.pack_primary_header(
        type=ptype, apid=apid, seq_count=seq_count, data_length=len(body) + CRC_LEN - 1
    )
    return append_crc(header + body)


def split_packets(data: bytes) -> list[bytes]:
    """The whole space packets of concatenated ones, in order, each found by its length field;
    a tail that does not make a whole packet is left out."""
    out, at = [], 0
    while at + 6 <= len(data):
        end = at + int.from_bytes(data[at + 4 : at + 6], "big") + 7
        if end > len(data):
            break
        out.append(data[at:end])
        at = end
    return out


def parse_packet(raw: bytes) -> Telecommand | Telemetry:
    """Decode one packet whose length is known (a frame); PacketError says why it is refused."""
    request_id = bytes(raw[:4]) if len(raw) >= 4 else None
    if len(raw) < native.PRIMARY_HEADER_LEN:
        raise PacketError(FailureCode.BAD_LENGTH, f"{len(raw)} octets: shorter than a header")
    hdr = native.unpack_primary_header(raw)
    if hdr.packet_length != len(raw):
        raise PacketError(
            FailureCode.BAD_LENGTH,
            f"length field says {hdr.packet_length} octets, frame holds {len(raw)}",
            request_id,
        )
    if native.crc16(raw) != 0:
        raise PacketError(FailureCode.BAD_CHECKSUM, "packet error control mismatch", request_id)
    if hdr.apid not in APIDS:
        raise PacketError(FailureCode.ILLEGAL_APID, f"APID {hdr.apid:#05x} is not ours", request_id)
    body = raw[native.PRIMARY_HEADER_LEN : -CRC_LEN]
    sec_len = TC_SECONDARY_LEN if hdr.type == TYPE_TC else TM_SECONDARY_LEN
    if (
        hdr.version != 0
        or not hdr.sec_hdr_flag
        or len(body) < sec_len
        or body[0] >> 4 != PUS_VERSION
    ):
        raise PacketError(FailureCode.BAD_HEADER, "not a PUS-C packet", request_id)
    if hdr.type == TYPE_TC:
        _, service, subtype, source_id = struct.unpack_from(">BBBH", body)
        return Telecommand(
            hdr.apid,
            hdr.seq_count,
            service,
            subtype,
            source_id,
            body[0] & 0x0F,
            bytes(body[TC_SECONDARY_LEN:]),
        )
    _, service, subtype, counter, dest = struct.unpack_from(">BBBHH", body)
    return Telemetry(
        hdr.apid,
        hdr.seq_count,
        service,
        subtype,
        counter,
        dest,
        decode_cuc(body[7:TM_SECONDARY_LEN]),
        (body[0] & 0x0F) == TIME_SYNCED,
        bytes(body[TM_SECONDARY_LEN:]),
    )
