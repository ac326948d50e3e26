"""The payload's C core, bound through cffi (API mode, compiled at install time).

Checksums (of packets and of CFDP files), COBS framing, CCSDS primary headers and CFDP file data
PDUs. Every function
takes any buffer-protocol object (bytes, bytearray, memoryview, a C-contiguous numpy array) and
reads it in place, without a copy.
"""

from __future__ import annotations

import os

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np

try:
    from native._native import ffi, lib
except ModuleNotFoundError as exc:  # the source tree, not an installed package
    raise ImportError(
        "the native core is not built here: install the package (make install, or pip install .) "
        "and run from outside the source tree"
    ) from exc

__all__ = [
    "CRC_PATHS",
    "FileDataPdus",
    "PrimaryHeader",
    "cobs_decode",
    "cobs_encode",
    "cobs_split",
    "cfdp_file_data",
    "cfdp_modular",
    "crc16",
    "crc32",
    "crc32_combine",
    "crc32_prox1",
    "crc32_prox1_combine",
    "crc32c",
    "crc32c_combine",
    "crc_path",
    "crc_paths",
    "file_writeback",
    "pack_primary_header",
    "pack_tm",
    "scan_packets",
    "set_crc_path",
    "unpack_primary_header",
]

PRIMARY_HEADER_LEN = 6

_COBS_ERRORS = {
    lib.PN_ERR_COBS_ZERO: "a 0x00 byte inside the frame",
    lib.PN_ERR_COBS_OVERRUN: "a code byte pointing past the end of the frame",
}


class PrimaryHeader(NamedTuple):
    """The fields of a CCSDS Space Packet primary header."""

    version: int
    type: int
    sec_hdr_flag: int
    apid: int
    seq_flags: int
    seq_count: int
    data_length: int

    @property
    def packet_length(self) -> int:
        """Length of the whole packet in octets (header included)."""
        return self.data_length + 7


CRC_PATHS = {
    "portable": lib.PN_CRC_PORTABLE,
    "x86-pclmul": lib.PN_CRC_X86_PCLMUL,
    "x86-vpclmul": lib.PN_CRC_X86_VPCLMUL,
    "arm-crc32": lib.PN_CRC_ARM_CRC32,
    "arm-pmull": lib.PN_CRC_ARM_PMULL,
}
_PATH_NAMES = {v: k for k, v in CRC_PATHS.items()}
_from_buffer = ffi.from_buffer
_crc16 = lib.pn_crc16
_crc32c = lib.pn_crc32c
_crc32 = lib.pn_crc32
_crc32_prox1 = lib.pn_crc32_prox1
_cfdp_modular = lib.pn_cfdp_modular


def _view(data: object):
    return _from_buffer("uint8_t[]", data)


def crc_paths() -> list[str]:
    """The CRC implementations this CPU can run, slowest first."""
    mask = lib.pn_crc_paths()
    return [name for name, path in CRC_PATHS.items() if mask & (1 << path)]


def crc_path() -> str:
    """The CRC implementation in use (chosen at load; PAYLOAD_NATIVE_PORTABLE=1 forces portable)."""
    return _PATH_NAMES[lib.pn_crc_path_get()]


def set_crc_path(name: str) -> None:
    """Use one CRC implementation (tests, benchmarks); ValueError if this CPU cannot run it."""
    if name not in CRC_PATHS or lib.pn_crc_path_set(CRC_PATHS[name]) != lib.PN_OK:
        raise ValueError(f"CRC path {name!r} not available here; available: {crc_paths()}")


def crc16(data: object, value: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data``; pass a previous result as ``value`` to continue it."""
    if data.__class__ is bytes:  # cffi passes bytes without a buffer object: the cheapest call
        return _crc16(value, data, len(data))
    buf = _from_buffer("uint8_t[]", data)
    return _crc16(value, buf, len(buf))


def crc32c(data: object, value: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``; pass a previous result as ``value`` to continue it."""
    if data.__class__ is bytes:
        return _crc32c(value, data, len(data))
    buf = _from_buffer("uint8_t[]", data)
    return _crc32c(value, buf, len(buf))


def crc32(data: object, value: int = 0) -> int:
    """CRC-32/ISO-HDLC (IEEE 802.3, CFDP checksum type 3) of ``data``; ``value`` continues one."""
    buf = _view(data)
    return _crc32(value, buf, len(buf))


def crc32_prox1(data: object, value: int = 0) -> int:
    """Proximity-1 CRC-32 (CFDP checksum type 1) of ``data``; ``value`` continues one."""
    buf = _view(data)
    return _crc32_prox1(value, buf, len(buf))


def crc32c_combine(crc_a: int, crc_b: int, len_b: int) -> int:
    """The CRC-32C of data A followed by B, from the CRC-32Cs of A and of B and B's length."""
    return lib.pn_crc32c_combine(crc_a, crc_b, len_b)


def crc32_combine(crc_a: int, crc_b: int, len_b: int) -> int:
    """The CRC-32 of data A followed by B, from the CRC-32s of A and of B and B's length."""
    return lib.pn_crc32_combine(crc_a, crc_b, len_b)


def crc32_prox1_combine(crc_a: int, crc_b: int, len_b: int) -> int:
    """The Proximity-1 CRC-32 of data A followed by B, from those of A and of B and B's length."""
    return lib.pn_crc32_prox1_combine(crc_a, crc_b, len_b)


def cfdp_modular(data: object, offset: int = 0, value: int = 0) -> int:
    """CFDP modular checksum (type 0) of ``data`` lying at file ``offset``, added to ``value``."""
    buf = _view(data)
    return _cfdp_modular(value, offset, buf, len(buf))


class FileDataPdus:
    """One CFDP transaction's file data PDUs, written whole by the core many to a call: header
    (``prefix``, as Header.prefix(True) writes it), offset, data and CRC-16. ValueError for a
    prefix that is not one of file data PDUs."""

    def __init__(self, prefix: bytes) -> None:
        header = ffi.new("pn_cfdp_fd_header *")
        if not 4 <= len(prefix) <= lib.PN_CFDP_PREFIX_MAX:
            raise ValueError(f"a file data PDU header of {len(prefix)} octets")
        header.prefix[0 : len(prefix)] = prefix
        header.prefix_len = len(prefix)
        if lib.pn_cfdp_fd_check(header) != lib.PN_OK:
            raise ValueError("not the header of file data PDUs")
        self._header = header
        self.overhead: int = lib.pn_cfdp_fd_overhead(header)
        self._out = ffi.new("uint8_t[]", 0)
        self._lens = ffi.new("uint32_t[]", 0)
        self._taken = ffi.new("size_t *")

    def joined(self, offset: int, data: object, segment: int) -> bytes:
        """The PDUs carrying ``data``, which sits at file ``offset``, in segments of at most
        ``segment`` octets, back to back in one buffer (each ``overhead + segment`` octets but
        the last, as UDP GSO sends them); ValueError for a segment of 0 or too long for one
        PDU, or data beyond a small file's 32-bit offsets."""
        view = _view(data)
        size = len(view)
        count = -(-size // segment) if segment > 0 else 0
        cap = size + count * self.overhead
        if len(self._out) < cap:  # grown once to the chunk size, then reused
            self._out = ffi.new("uint8_t[]", cap)
        if len(self._lens) < count:
            self._lens = ffi.new("uint32_t[]", count)
        made = lib.pn_cfdp_fd_segment(
            self._header, offset, view, size, segment, self._out, cap, self._lens, count,
            self._taken,
        )  # fmt: skip
        if made < 0:
            raise ValueError(
                f"{size} octets at offset {offset} in segments of {segment}: not file data PDUs "
                "(a segment of 0 or over 65535 octets with its PDU's offset and CRC, or beyond "
                "a small file's 32-bit offsets)"
            )
        return ffi.buffer(self._out, cap)[:]


_fd_view = ffi.new("pn_cfdp_fd_view *")


def cfdp_file_data(pdu: object) -> tuple[int, int, int, int] | None:
    """Where the parts of a whole CFDP file data PDU are: its fixed header's length, its data's
    file offset, where the data begins in ``pdu`` and how many octets it is; None for anything
    else (not file data, a length that disagrees, a CRC that does not check), which the Python
    codec reads to say why."""
    view = _fd_view
    buf = pdu if pdu.__class__ is bytes else _from_buffer("uint8_t[]", pdu)
    if lib.pn_cfdp_fd_parse(buf, len(buf), view) != lib.PN_OK:
        return None
    return view.header_len, view.offset, view.data_at, view.data_len


def file_writeback(fd: int, offset: int = 0, length: int = 0) -> None:
    """Start writing ``length`` octets of the file's dirty pages from ``offset`` (0: to its end)
    to disk without waiting (Linux's sync_file_range; nothing elsewhere); OSError on failure."""
    result = lib.pn_file_writeback(fd, offset, length)
    if result < 0:
        raise OSError(-result, os.strerror(-result))


def cobs_encode(data: object) -> bytes:
    """COBS-encode ``data`` into one frame without its 0x00 delimiter."""
    buf = _view(data)
    out = ffi.new("uint8_t[]", lib.pn_cobs_max_encoded_len(len(buf)))
    n = lib.pn_cobs_encode(buf, len(buf), out)
    return ffi.buffer(out, n)[:]


def cobs_decode(frame: object) -> bytes:
    """Decode one COBS frame given without its delimiter; ValueError if it is malformed."""
    buf = _view(frame)
    out = ffi.new("uint8_t[]", max(len(buf), 1))
    out_len = ffi.new("size_t *")
    status = lib.pn_cobs_decode(buf, len(buf), out, out_len)
    if status != lib.PN_OK:
        raise ValueError(f"malformed COBS frame: {_COBS_ERRORS[status]} at offset {out_len[0]}")
    return ffi.buffer(out, out_len[0])[:]


def pack_primary_header(
    *,
    type: int,
    apid: int,
    seq_count: int,
    data_length: int,
    sec_hdr_flag: int = 1,
    seq_flags: int = 3,
    version: int = 0,
) -> bytes:
    """Pack a primary header; ValueError when a field does not fit its width."""
    if not 0 <= data_length <= 0xFFFF:
        raise ValueError(f"packet data length {data_length + 1} outside 1..65536 octets")
    hdr = ffi.new(
        "pn_sp_header *",
        {
            "version": version,
            "type": type,
            "sec_hdr_flag": sec_hdr_flag,
            "apid": apid,
            "seq_flags": seq_flags,
            "seq_count": seq_count,
            "data_length": data_length,
        },
    )
    out = ffi.new("uint8_t[6]")
    if lib.pn_sp_pack(hdr, out) != lib.PN_OK:
        raise ValueError(
            f"primary header field out of range: version={version} type={type} "
            f"sec_hdr_flag={sec_hdr_flag} apid={apid} seq_flags={seq_flags} seq_count={seq_count}"
        )
    return ffi.buffer(out, PRIMARY_HEADER_LEN)[:]


def unpack_primary_header(data: object) -> PrimaryHeader:
    """Unpack the primary header at the start of ``data``; ValueError if fewer than 6 octets."""
    buf = _view(data)
    hdr = ffi.new("pn_sp_header *")
    if lib.pn_sp_unpack(buf, len(buf), hdr) != lib.PN_OK:
        raise ValueError(f"a primary header needs 6 octets, got {len(buf)}")
    return PrimaryHeader(
        hdr.version,
        hdr.type,
        hdr.sec_hdr_flag,
        hdr.apid,
        hdr.seq_flags,
        hdr.seq_count,
        hdr.data_length,
    )


_ROW_FIELDS = (
    ("offset", "u8"),
    ("length", "u4"),
    ("apid", "u2"),
    ("seq_count", "u2"),
    ("type", "u1"),
    ("sec_hdr_flag", "u1"),
    ("seq_flags", "u1"),
    ("crc_ok", "?"),
)
_row_dtype = None


def packet_row_dtype() -> np.dtype:
    """The numpy dtype of scan_packets' rows, laid out as the C struct pn_packet_row."""
    global _row_dtype
    if _row_dtype is None:
        import numpy

        _row_dtype = numpy.dtype(
            {
                "names": [name for name, _ in _ROW_FIELDS],
                "formats": [fmt for _, fmt in _ROW_FIELDS],
                "offsets": [ffi.offsetof("pn_packet_row", name) for name, _ in _ROW_FIELDS],
                "itemsize": ffi.sizeof("pn_packet_row"),
            }
        )
    return _row_dtype


def scan_packets(buf: object) -> tuple[np.ndarray, int]:
    """One row per space packet in a buffer of concatenated packets, CRC-16 checked, and the
    number of trailing octets that do not (yet) form a whole packet."""
    import numpy

    view = _view(buf)
    size = len(view)
    dtype = packet_row_dtype()
    next_offset = ffi.new("size_t *")
    chunks = []
    start = 0
    limit = size // 7 + 1  # no more packets than this fit
    # One array sized from the first packet's length: exact for packets of one size, and a fresh
    # allocation costs page faults, so avoid growing it. More chunks only if it falls short.
    first = ((view[4] << 8) | view[5]) + 7 if size >= 6 else 7
    capacity = min(limit, int(size / first * 1.1) + 16)
    while True:
        rows = numpy.empty(capacity, dtype=dtype)
        filled = lib.pn_scan_packets(
            view,
            size,
            start,
            ffi.cast("pn_packet_row *", _from_buffer(rows)),
            capacity,
            next_offset,
        )
        chunks.append(rows[:filled])
        if filled < capacity:
            break
        average = max((next_offset[0] - start) / filled, 7.0)
        start = next_offset[0]
        capacity = min(limit, int((size - start) / average * 1.1) + 16)
    table = chunks[0] if len(chunks) == 1 else numpy.concatenate(chunks)
    return table, size - next_offset[0]


def cobs_split(stream: object, max_frame_len: int = 0xFFFFFFFF) -> tuple[list[bytes], bytes, int]:
    """Decode the complete COBS frames of a byte stream.

    Returns the decoded frames, the unconsumed tail (after the last delimiter) and the number of
    frames dropped as malformed or longer than ``max_frame_len``. Empty frames are idle fill.
    """
    src = _view(stream)
    delimiters = (
        bytes(src).count(0) if not isinstance(stream, (bytes, bytearray)) else stream.count(0)
    )
    if delimiters == 0:
        return [], bytes(src), 0
    n = len(src)
    dst = ffi.new("uint8_t[]", n)
    frames = ffi.new("pn_frame[]", delimiters)
    consumed = ffi.new("size_t *")
    count = lib.pn_cobs_split(src, n, max_frame_len, dst, frames, delimiters, consumed)
    decoded = ffi.buffer(dst, n)
    good = []
    for i in range(count):
        frame = frames[i]
        if frame.status == lib.PN_OK:
            good.append(decoded[frame.offset : frame.offset + frame.length])
    return good, ffi.buffer(src)[consumed[0] :], count - len(good)


def pack_tm(
    *,
    apid: int,
    seq_count: int,
    service: int,
    subtype: int,
    msg_counter: int,
    dest_id: int,
    coarse_time: int,
    fine_time: int,
    time_synced: bool,
    data: object = b"",
) -> bytes:
    """A whole PUS-C telemetry packet (docs/icd.md section 5) with its CRC-16, in one C call."""
    fields = ffi.new(
        "pn_tm_fields *",
        {
            "apid": apid,
            "seq_count": seq_count,
            "service": service,
            "subtype": subtype,
            "time_synced": int(time_synced),
            "msg_counter": msg_counter,
            "dest_id": dest_id,
            "coarse_time": coarse_time,
            "fine_time": fine_time,
        },
    )
    src = _view(data)
    cap = len(src) + 21
    out = ffi.new("uint8_t[]", cap)
    n = lib.pn_tm_pack(fields, src, len(src), out, cap)
    if n == 0:
        raise ValueError(f"telemetry packet fields out of range: apid={apid} seq={seq_count}")
    return ffi.buffer(out, n)[:]
