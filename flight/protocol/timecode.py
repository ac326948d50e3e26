"""CCSDS Unsegmented Time Code (CCSDS 301.0-B-4), 4 coarse + 2 fine octets, implicit P-field.

Epoch: 1970-01-01T00:00:00 UTC (an agency-defined epoch, P-field 0x2E), so coarse time is Unix
time. The bus is the only clock of the flight software: every time code it sends and every time
stamp the payload writes is bus time.
"""

from __future__ import annotations

import struct

CUC_LEN = 6
_FINE_UNITS = 1 << 16
_MAX_COARSE = (1 << 32) - 1
MAX_CUC_S = _MAX_COARSE + (_FINE_UNITS - 1) / _FINE_UNITS  # the latest time a code can hold


def split_cuc(seconds: float) -> tuple[int, int]:
    """Coarse seconds and fine 1/65536 s of a time; fractions are rounded down."""
    if not 0 <= seconds < _MAX_COARSE + 1:
        raise ValueError(f"time {seconds!r} s outside the CUC 4+2 range 0..2^32 s")
    coarse = int(seconds)
    return coarse, int((seconds - coarse) * _FINE_UNITS)


def encode_cuc(seconds: float) -> bytes:
    """Encode seconds since the epoch; fractions are rounded down to 1/65536 s."""
    return struct.pack(">IH", *split_cuc(seconds))


def decode_cuc(data: bytes) -> float:
    """Decode a 6-octet CUC time code to seconds since the epoch."""
    if len(data) < CUC_LEN:
        raise ValueError(f"a CUC 4+2 time code needs {CUC_LEN} octets, got {len(data)}")
    coarse, fine = struct.unpack_from(">IH", data)
    return coarse + fine / _FINE_UNITS
