"""A CFDP file being received through the C core's data path (native/src/cfdp_receive.c): file
data PDUs, many to a call, written at their offsets; the runs received, each with its checksum;
the gaps that data past the highest octet opens, for the receiver to NAK at once. docs/native.md.
"""

from __future__ import annotations

import os

from native import _view
from native._native import ffi, lib

RUNS_FIRST = 64
RUNS_MAX = 1 << 16  # runs kept apart at most (1.5 MiB a transaction, 384 MiB for the most an
# entity holds at once): data that would open one more is refused, and asked for again by the
# NAKs of the gaps around it once runs have joined
CHECK_NONE = lib.PN_CFDP_CHECK_NONE
OTHER = lib.PN_CFDP_RX_OTHER
WRITE_FAILED = lib.PN_CFDP_RX_WRITE_FAILED
_GAPS_ASKED = 256


class FileReception:
    """One file's data path. ``key`` is octet 0 and octets 3 on of its PDUs' header; ``fd`` the
    partial file; ``limit`` the octet past which no data may end; ``immediate_nak`` whether a
    gap is reported as data past it opens it (``opened``)."""

    def __init__(self, key: bytes, fd: int, limit: int, immediate_nak: bool) -> None:
        rx = self.rx = ffi.new("pn_cfdp_rx *")
        if not 0 < len(key) <= len(rx.key):
            raise ValueError(f"a key of {len(key)} octets: not a CFDP header's")
        rx.key[0 : len(key)] = list(key)
        rx.key_len = len(key)
        rx.fd = fd
        rx.check_type = CHECK_NONE
        rx.immediate_nak = int(immediate_nak)
        rx.limit = limit
        self._runs = ffi.new("pn_cfdp_run[]", RUNS_FIRST)
        rx.runs = self._runs
        rx.runs_cap = RUNS_FIRST
        self._gaps = ffi.new("pn_cfdp_gap[]", _GAPS_ASKED)
        self.opened: list[tuple[int, int]] = []  # gaps opened since the owner last took them

    def put(self, datagrams: bytes | memoryview, stride: int) -> int:
        """Take the file data PDUs of this file among datagrams of ``stride`` octets laid back
        to back (one datagram: its length): the octets taken, whole datagrams from the first
        on. Short of the end, ``stopped`` says why: the next is not one of this file's PDUs
        (OTHER: the caller reads it), or a write failed (WRITE_FAILED, ``error``)."""
        rx = self.rx
        buf = _view(datagrams)
        total = len(buf)
        at = 0
        while True:
            at += lib.pn_cfdp_rx_put(rx, buf + at, total - at, stride)
            self._take_gaps()
            stop = rx.stop
            if stop == lib.PN_CFDP_RX_RUNS_FULL and not self._grow():
                rx.refused += 1  # no room for another run: asked for again once there is
                at += min(stride, total - at)
            elif stop not in (lib.PN_CFDP_RX_GAPS_FULL, lib.PN_CFDP_RX_RUNS_FULL):
                return at

    def data(self, offset: int, data: bytes | memoryview) -> None:
        """Take file data that lies at ``offset`` (a PDU read by the caller)."""
        rx = self.rx
        buf = data if data.__class__ is bytes else _view(data)
        while not lib.pn_cfdp_rx_data(rx, offset, buf, len(buf)):
            self._take_gaps()
            if rx.stop == lib.PN_CFDP_RX_RUNS_FULL and not self._grow():
                rx.refused += 1
                return
            if rx.stop == WRITE_FAILED:
                return
        self._take_gaps()

    def _take_gaps(self) -> None:
        rx = self.rx
        if rx.gaps_n:
            self.opened += [(g.start, g.end) for g in rx.gaps[0 : rx.gaps_n]]
            rx.gaps_n = 0

    def _grow(self) -> bool:
        """Room for more runs, while below RUNS_MAX; False at it."""
        rx = self.rx
        cap = rx.runs_cap
        if cap >= RUNS_MAX:
            return False
        bigger = ffi.new("pn_cfdp_run[]", min(2 * cap, RUNS_MAX))
        ffi.memmove(bigger, self._runs, cap * ffi.sizeof("pn_cfdp_run"))
        self._runs = bigger
        rx.runs = bigger
        rx.runs_cap = len(bigger)
        return True

    @property
    def stopped(self) -> int:
        return self.rx.stop

    @property
    def reserved(self) -> int:
        """The file's first octets whose disk blocks are reserved."""
        return self.rx.reserved

    @property
    def error(self) -> OSError | None:
        """Why a write failed, once one has: nothing more is taken."""
        code = -self.rx.error
        return OSError(code, os.strerror(code)) if code else None

    def take_counts(self) -> tuple[int, int, int]:
        """Octets written, PDUs refused (past the limit, or no room for a run) and PDUs that
        repaired a gap since the last call."""
        rx = self.rx
        counts = (rx.written, rx.refused, rx.repairs)
        rx.written = rx.refused = rx.repairs = 0
        return counts

    def set_checksum(self, kind: int) -> None:
        """Keep the checksum of this CFDP type for each run: only before any data came."""
        if self.rx.runs_n:
            raise ValueError("the checksum is kept from the first octet or not at all")
        self.rx.check_type = kind

    def set_limit(self, limit: int, size: int | None = None) -> None:
        """No data may end past ``limit``; ``size``, the file's, is reserved ahead of writes."""
        self.rx.limit = limit
        if size is not None:
            self.rx.reserve_to = size

    def restore(self, ranges: list[tuple[int, int]]) -> None:
        """Runs received before a restart (their checksums unknown: none is kept)."""
        self.rx.runs_n = 0
        self.rx.check_type = CHECK_NONE
        while self.rx.runs_cap < len(ranges):
            if not self._grow():
                raise ValueError(f"{len(ranges)} runs: more than {RUNS_MAX}")
        for i, (start, end) in enumerate(sorted(ranges)):
            self._runs[i].start, self._runs[i].end, self._runs[i].check = start, end, 0
        self.rx.runs_n = len(ranges)
        self.rx.high = max((end for _, end in ranges), default=0)

    def ranges(self) -> list[tuple[int, int]]:
        return [(r.start, r.end) for r in self._runs[0 : self.rx.runs_n]]

    def total(self) -> int:
        return sum(r.end - r.start for r in self._runs[0 : self.rx.runs_n])

    def contiguous(self) -> int:
        """The octets received without a gap from offset 0."""
        rx = self.rx
        return self._runs[0].end if rx.runs_n and self._runs[0].start == 0 else 0

    def covers(self, size: int) -> bool:
        return size == 0 or self.contiguous() >= size

    def last_end(self) -> int:
        """The end of the highest run (0: none)."""
        n = self.rx.runs_n
        return self._runs[n - 1].end if n else 0

    def gaps(self, size: int) -> list[tuple[int, int]]:
        """The ranges of [0, size) not received."""
        out: list[tuple[int, int]] = []
        at = 0
        while True:
            n = lib.pn_cfdp_rx_gaps(self.rx, at, size, self._gaps, _GAPS_ASKED)
            out += [(g.start, g.end) for g in self._gaps[0:n]]
            if n < _GAPS_ASKED:
                return out
            at = out[-1][1]

    def checksum(self, size: int) -> int | None:
        """The checksum of the file's ``size`` octets where they are all here and it was kept
        from the first; else None (the caller reads the file back)."""
        rx = self.rx
        if rx.check_type == CHECK_NONE or not self.covers(size):
            return None
        if size == 0:
            return 0
        first = self._runs[0]
        return first.check if first.end == size else None
