"""CFDP protocol data units (CCSDS 727.0-B-5 section 5): encoding and strict decoding.

Every PDU the entity sends or receives passes through here. Decoding never trusts a length: any
inconsistency raises PduError with a short reason (the counters of docs/downlink.md are keyed by
it), and nothing else escapes for any byte sequence. File data PDUs on the hot path are written
by the native core, many to a call, from a per transaction header prefix. The PDU types are
declared in pdu_types.py and taken from here.
"""

from __future__ import annotations

import enum

import native
from flight.cfdp.pdu_types import (
    Ack,
    ChecksumType,
    Condition,
    Directive,
    Eof,
    FileData,
    FileStatus,
    Finished,
    Header,
    KeepAlive,
    MAX_ID_LEN,
    Metadata,
    Nak,
    Pdu,
    PduError,
    Prompt,
    TLV_ENTITY_ID,
    TLV_MESSAGE_TO_USER,
    TransactionStatus,
    VERSION,
    _LEN,
)


def _finish(prefix: bytes, body: bytes, crc: bool) -> bytes:
    length = len(body) + (2 if crc else 0)
    if length > 0xFFFF:
        raise ValueError(f"PDU data field of {length} octets exceeds 65535")
    pdu = prefix[:1] + _LEN.pack(length) + prefix[3:] + body
    return pdu + native.crc16(pdu).to_bytes(2, "big") if crc else pdu


def _entity_tlv(entity: int | None, id_len: int) -> bytes:
    if entity is None:
        return b""
    return bytes((TLV_ENTITY_ID, id_len)) + entity.to_bytes(id_len, "big")


def _lv(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 255:
        raise ValueError(f"file name of {len(raw)} octets exceeds 255")
    return bytes((len(raw),)) + raw


def encode(pdu: Pdu) -> bytes:
    """The octets of a PDU."""
    h = pdu.header
    fss = h.fss
    if isinstance(pdu, FileData):
        return _finish(h.prefix(True), fss.pack(pdu.offset) + bytes(pdu.data), h.crc)
    if isinstance(pdu, Metadata):
        body = (
            bytes((Directive.METADATA, int(pdu.closure_requested) << 6 | pdu.checksum_type))
            + fss.pack(pdu.file_size)
            + _lv(pdu.source_name)
            + _lv(pdu.dest_name)
            + b"".join(bytes((TLV_MESSAGE_TO_USER, len(m))) + m for m in pdu.messages)
        )
    elif isinstance(pdu, Eof):
        body = (
            bytes((Directive.EOF, pdu.condition << 4))
            + pdu.checksum.to_bytes(4, "big")
            + fss.pack(pdu.file_size)
            + _entity_tlv(pdu.fault_entity, h.id_len)
        )
    elif isinstance(pdu, Finished):
        flags = pdu.condition << 4 | int(not pdu.complete) << 2 | pdu.status
        body = bytes((Directive.FINISHED, flags)) + _entity_tlv(pdu.fault_entity, h.id_len)
    elif isinstance(pdu, Ack):
        subtype = 1 if pdu.directive == Directive.FINISHED else 0
        body = bytes((Directive.ACK, pdu.directive << 4 | subtype, pdu.condition << 4 | pdu.status))
    elif isinstance(pdu, Nak):
        body = bytes((Directive.NAK,)) + fss.pack(pdu.start) + fss.pack(pdu.end)
        body += b"".join(fss.pack(a) + fss.pack(b) for a, b in pdu.segments)
    elif isinstance(pdu, Prompt):
        body = bytes((Directive.PROMPT, int(pdu.keep_alive) << 7))
    else:
        body = bytes((Directive.KEEP_ALIVE,)) + fss.pack(pdu.progress)
    return _finish(h.prefix(False), body, h.crc)


class FileDataEncoder:
    """File data PDUs of one transaction, written whole by the native core, many to a call."""

    def __init__(self, header: Header) -> None:
        self._pdus = native.FileDataPdus(header.prefix(True))
        self.overhead = self._pdus.overhead  # octets of a PDU beside its data

    def encode(self, offset: int, data: bytes | memoryview) -> bytes:
        """One PDU carrying all of ``data`` (at most a PDU's worth)."""
        return self._pdus.joined(offset, data, max(1, len(data)))

    def encode_joined(self, offset: int, data: bytes | memoryview, segment: int) -> bytes:
        """The PDUs carrying ``data`` in segments of at most ``segment`` octets, back to back:
        each ``overhead + segment`` octets but the last."""
        return self._pdus.joined(offset, data, segment)


def _need(buf: memoryview, end: int, what: str) -> None:
    if end > len(buf):
        raise PduError("truncated", f"{what} runs past the end of the PDU ({end} > {len(buf)})")


def decode_header(buf: memoryview) -> tuple[Header, bool, int]:
    """The header, whether it is a file data PDU, and where the data field starts (after the
    segment metadata of a file data PDU, which is skipped, as is the segmentation control bit)."""
    _need(buf, 4, "fixed header")
    first, length, third = buf[0], _LEN.unpack_from(buf, 1)[0], buf[3]
    if first >> 5 != VERSION:
        raise PduError("version", f"version {first >> 5}, not {VERSION}")
    id_len, seq_len = ((third >> 4) & 7) + 1, (third & 7) + 1
    start = 4 + 2 * id_len + seq_len
    _need(buf, start, "entity ids")
    if start + length != len(buf):
        raise PduError("length", f"data field length {length} but {len(buf) - start} octets follow")
    crc = bool(first & 2)
    if crc:
        if length < 2:
            raise PduError("truncated", "a CRC flag with no room for the CRC")
        if native.crc16(buf) != 0:
            raise PduError("crc", "PDU CRC does not check")
    ids = bytes(buf[4:start])
    header = Header(
        source_id=int.from_bytes(ids[:id_len], "big"),
        seq_num=int.from_bytes(ids[id_len : id_len + seq_len], "big"),
        dest_id=int.from_bytes(ids[id_len + seq_len :], "big"),
        acknowledged=not first & 4,
        toward_sender=bool(first & 8),
        crc=crc,
        large_file=bool(first & 1),
        id_len=id_len,
        seq_len=seq_len,
    )
    file_data = bool(first & 0x10)
    if file_data and third & 0x08:
        _need(buf, start + 1, "segment metadata length")
        start += 1 + (buf[start] & 0x3F)
    return header, file_data, start


def _lv_at(buf: memoryview, pos: int, what: str) -> tuple[str, int]:
    _need(buf, pos + 1, what)
    end = pos + 1 + buf[pos]
    _need(buf, end, what)
    try:
        return bytes(buf[pos + 1 : end]).decode(), end
    except UnicodeDecodeError:
        raise PduError("file_name", f"{what} is not UTF-8") from None


def _tlvs(buf: memoryview, pos: int, end: int) -> list[tuple[int, bytes]]:
    out = []
    while pos < end:
        _need(buf, pos + 2, "TLV header")
        stop = pos + 2 + buf[pos + 1]
        if stop > end:
            raise PduError("tlv", f"TLV of type {buf[pos]} runs past the data field")
        out.append((buf[pos], bytes(buf[pos + 2 : stop])))
        pos = stop
    return out


def _fault_entity(tlvs: list[tuple[int, bytes]]) -> int | None:
    for kind, value in tlvs:
        if kind == TLV_ENTITY_ID:
            if not 1 <= len(value) <= MAX_ID_LEN:
                raise PduError("tlv", f"entity id TLV of {len(value)} octets")
            return int.from_bytes(value, "big")
    return None


def _enum(kind: type[enum.IntEnum], value: int, what: str) -> enum.IntEnum:
    try:
        return kind(value)
    except ValueError:
        raise PduError(what, f"unknown {what} {value}") from None


def decode(data: bytes | bytearray | memoryview) -> Pdu:
    """Decode one PDU; PduError says why it cannot be."""
    buf = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
    header, file_data, pos = decode_header(buf)
    end = len(buf) - (2 if header.crc else 0)
    fss = header.fss
    if file_data:
        _need(buf, pos + fss.size, "file data offset")
        return FileData(header, fss.unpack_from(buf, pos)[0], buf[pos + fss.size : end])
    _need(buf, pos + 1, "directive code")
    code = _enum(Directive, buf[pos], "directive")
    pos += 1
    if code == Directive.METADATA:
        _need(buf, pos + 1 + fss.size, "metadata")
        flags = buf[pos]
        size = fss.unpack_from(buf, pos + 1)[0]
        source, pos = _lv_at(buf, pos + 1 + fss.size, "source file name")
        dest, pos = _lv_at(buf, pos, "destination file name")
        tlvs = _tlvs(buf, pos, end)
        return Metadata(
            header,
            size,
            source,
            dest,
            _enum(ChecksumType, flags & 0x0F, "checksum_type"),
            bool(flags & 0x40),
            [v for k, v in tlvs if k == TLV_MESSAGE_TO_USER],
        )
    if code == Directive.EOF:
        _need(buf, pos + 5 + fss.size, "EOF")
        condition = _enum(Condition, buf[pos] >> 4, "condition")
        checksum = int.from_bytes(buf[pos + 1 : pos + 5], "big")
        size = fss.unpack_from(buf, pos + 5)[0]
        fault = _fault_entity(_tlvs(buf, pos + 5 + fss.size, end))
        return Eof(header, condition, checksum, size, fault)
    if code == Directive.FINISHED:
        _need(buf, pos + 1, "Finished")
        flags = buf[pos]
        fault = _fault_entity(_tlvs(buf, pos + 1, end))
        return Finished(
            header,
            _enum(Condition, flags >> 4, "condition"),
            not flags & 4,
            FileStatus(flags & 3),
            fault,
        )
    if code == Directive.ACK:
        _need(buf, pos + 2, "ACK")
        acked = _enum(Directive, buf[pos] >> 4, "directive")
        if acked not in (Directive.EOF, Directive.FINISHED):
            raise PduError("directive", f"an ACK of {acked.name}")
        return Ack(
            header,
            acked,
            _enum(Condition, buf[pos + 1] >> 4, "condition"),
            TransactionStatus(buf[pos + 1] & 3),
        )
    if code == Directive.NAK:
        _need(buf, pos + 2 * fss.size, "NAK scope")
        start, stop = fss.unpack_from(buf, pos)[0], fss.unpack_from(buf, pos + fss.size)[0]
        pos += 2 * fss.size
        if (end - pos) % (2 * fss.size):
            raise PduError("length", "NAK segment requests do not come in whole pairs")
        values = [fss.unpack_from(buf, p)[0] for p in range(pos, end, fss.size)]
        return Nak(header, start, stop, list(zip(values[::2], values[1::2], strict=True)))
    if code == Directive.PROMPT:
        _need(buf, pos + 1, "Prompt")
        return Prompt(header, bool(buf[pos] & 0x80))
    _need(buf, pos + fss.size, "Keep Alive")
    return KeepAlive(header, fss.unpack_from(buf, pos)[0])
