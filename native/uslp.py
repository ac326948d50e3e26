"""USLP transfer frames (CCSDS 732.1-B-2) from the C core: packing and reading frames, a virtual
channel's packet service into fixed-length frames and its extraction, the CCSDS pseudo-randomiser
and frame synchronisation on the attached sync marker (the downlink's CADUs), and the uplink's
CLTUs (CCSDS 231.0-B) (docs/icd.md section 18)."""

from __future__ import annotations

from dataclasses import dataclass

from native import _view
from native._native import ffi, lib

NO_POINTER = 0xFFFF
MAX_PACKET = 65542
ASM = bytes.fromhex("1ACFFC1D")

STATUS = {
    lib.PN_OK: "ok",
    lib.PN_ERR_SHORT: "truncated",
    lib.PN_ERR_USLP_VERSION: "not a USLP frame",
    lib.PN_ERR_USLP_TRUNCATED: "truncated primary header",
    lib.PN_ERR_USLP_LENGTH: "frame length",
    lib.PN_ERR_USLP_CRC: "frame CRC",
    lib.PN_ERR_USLP_POINTER: "first header pointer",
}
"""Why a frame was refused, in a word or two, by the C core's status."""


@dataclass(frozen=True)
class Frame:
    """The fields of one frame read from a buffer, where it lies, and whether it is good."""

    status: int
    offset: int
    length: int
    scid: int
    dest: int
    vcid: int
    map_id: int
    bypass: int
    control: int
    count_len: int
    count: int
    rules: int
    upid: int
    pointer: int
    clcw: bytes | None
    zone_offset: int
    zone_length: int

    @property
    def ok(self) -> bool:
        return self.status == lib.PN_OK

    @property
    def problem(self) -> str:
        """What is wrong with the frame ("ok" when nothing is)."""
        return STATUS.get(self.status, f"status {self.status}")

    def zone(self, buf: bytes) -> bytes:
        """The frame's data zone, from the buffer it was read from."""
        start = self.offset + self.zone_offset
        return bytes(buf[start : start + self.zone_length])


def _frame(row: object) -> Frame:
    f = row.frame
    return Frame(
        status=row.status,
        offset=row.offset,
        length=f.length,
        scid=f.scid,
        dest=f.dest,
        vcid=f.vcid,
        map_id=f.map_id,
        bypass=f.bypass,
        control=f.control,
        count_len=f.count_len,
        count=f.count,
        rules=f.rules,
        upid=f.upid,
        pointer=f.pointer,
        clcw=bytes(f.clcw) if f.ocf else None,
        zone_offset=row.zone_offset,
        zone_length=row.zone_length,
    )


def pack_frame(
    zone: bytes,
    *,
    scid: int,
    vcid: int,
    map_id: int = 0,
    dest: int = 0,
    bypass: int = 0,
    control: int = 0,
    count_len: int = 0,
    count: int = 0,
    rules: int = 0b111,
    upid: int = 0,
    pointer: int = NO_POINTER,
    clcw: bytes | None = None,
    fecf: bool = True,
) -> bytes:
    """One whole frame around ``zone``; ValueError when a field does not fit its width."""
    fields = ffi.new(
        "pn_uslp_frame *",
        {
            "scid": scid,
            "dest": dest,
            "vcid": vcid,
            "map_id": map_id,
            "bypass": bypass,
            "control": control,
            "ocf": int(clcw is not None),
            "count_len": count_len,
            "count": count,
            "rules": rules,
            "upid": upid,
            "pointer": pointer,
            "clcw": clcw or b"\0\0\0\0",
        },
    )
    src = _view(zone)
    cap = len(src) + 32
    out = ffi.new("uint8_t[]", cap)
    n = lib.pn_uslp_pack(fields, src, len(src), int(fecf), out, cap)
    if n < 0:
        raise ValueError(
            f"USLP frame fields out of range or too long: scid={scid} vcid={vcid} map={map_id} "
            f"count={count}/{count_len} octets, {len(src)} octets of data"
        )
    return ffi.buffer(out, n)[:]


class FrameScan:
    """The frames of a buffer of concatenated frames, read by the C core: each ``frame_len``
    octets long, or as long as its own length field when ``frame_len`` is 0."""

    def __init__(self, buf: object, frame_len: int = 0, fecf: bool = True) -> None:
        view = _view(buf)
        size = len(view)
        self.capacity = size // max(frame_len, 8) + 1
        self.rows = ffi.new("pn_uslp_row[]", self.capacity)
        next_offset = ffi.new("size_t *")
        self.count = lib.pn_uslp_scan(
            view, size, 0, frame_len, int(fecf), self.rows, self.capacity, next_offset
        )
        self.next = next_offset[0]
        """The offset after the last frame read: where a partial frame starts."""

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> Frame:
        if not 0 <= i < self.count:
            raise IndexError(i)
        return _frame(self.rows[i])

    def __iter__(self):
        return (_frame(self.rows[i]) for i in range(self.count))


class PacketPacker:
    """A virtual channel's packets into fixed-length frames (construction rules 000): packets
    span frames, a frame left part full is completed with an idle packet by ``flush``."""

    def __init__(
        self,
        *,
        scid: int,
        vcid: int,
        frame_len: int,
        count_len: int = 2,
        map_id: int = 0,
        ocf: bool = True,
        fecf: bool = True,
    ) -> None:
        self._p = ffi.new("pn_uslp_packer *")
        t = self._p.template
        t.scid, t.vcid, t.map_id, t.count_len, t.length = scid, vcid, map_id, count_len, frame_len
        t.ocf = int(ocf)
        self._p.fecf = int(fecf)
        if lib.pn_uslp_packer_init(self._p) != lib.PN_OK:
            raise ValueError(
                f"USLP virtual channel out of range: scid={scid} vcid={vcid} map={map_id} "
                f"frame length {frame_len}"
            )
        self.frame_len = frame_len
        self._out = ffi.new("uint8_t[]", frame_len * 64)
        self._out_cap = frame_len * 64
        self._used = ffi.new("size_t *")

    @property
    def frames(self) -> int:
        """Frames completed so far."""
        return self._p.frames

    @property
    def pending(self) -> bool:
        """Whether a frame is under construction (``flush`` would complete one)."""
        return self._p.fill != 0

    def set_clcw(self, clcw: bytes) -> None:
        """The operational control field written into every frame completed from now on."""
        self._p.template.clcw = clcw

    def put(self, packets: object) -> bytes:
        """Concatenated whole space packets in; the frames they complete out, concatenated."""
        src = _view(packets)
        done = 0
        out = []
        while True:
            n = lib.pn_uslp_packer_put(
                self._p, src + done, len(src) - done, self._out, self._out_cap, self._used
            )
            if n < 0:
                raise ValueError("not whole space packets: the last one's length runs past the end")
            out.append(ffi.buffer(self._out, n * self.frame_len)[:])
            done += self._used[0]
            if done == len(src):
                return b"".join(out)
            if n == 0:  # one packet needs more frames than the buffer holds
                self._out_cap = self._out_cap * 2 + MAX_PACKET
                self._out = ffi.new("uint8_t[]", self._out_cap)

    def flush(self) -> bytes:
        """The frame under construction completed with an idle packet (empty when none)."""
        n = lib.pn_uslp_packer_flush(self._p, self._out, self._out_cap)
        return ffi.buffer(self._out, self.frame_len)[:] if n == 1 else b""


class PacketUnpacker:
    """A virtual channel's packets out of its fixed-length frames: packets spanning frames are
    put back together, and a frame count out of sequence drops the packet it cut."""

    def __init__(self) -> None:
        self._u = ffi.new("pn_uslp_unpacker *")
        self._taken = ffi.new("size_t *")

    def feed(self, buf: object, scan: FrameScan, select: list[int] | None = None) -> bytes:
        """The whole packets completed by the scan's frames (or those of ``select``), in
        order, concatenated."""
        src = _view(buf)
        if select is None:
            rows, count = scan.rows, scan.count
        else:
            rows, count = ffi.new("pn_uslp_row[]", max(len(select), 1)), len(select)
            for j, i in enumerate(select):
                rows[j] = scan.rows[i]
        zones = sum(rows[i].zone_length for i in range(count))
        cap = zones + MAX_PACKET
        out = ffi.new("uint8_t[]", cap)
        n = lib.pn_uslp_unpack(self._u, src, rows, count, out, cap, self._taken)
        return ffi.buffer(out, n)[:]

    @property
    def gaps(self) -> int:
        """Frame counts out of sequence."""
        return self._u.gaps

    @property
    def dropped(self) -> int:
        """Octets dropped: packets cut by a gap, zones while out of step."""
        return self._u.dropped

    @property
    def frames(self) -> int:
        return self._u.frames

    @property
    def packets(self) -> int:
        return self._u.packets


def randomise(data: object) -> bytes:
    """``data`` XORed with the CCSDS pseudo-randomiser's sequence: randomised, or derandomised."""
    out = bytearray(data)
    lib.pn_ccsds_randomise(ffi.from_buffer(out), len(out))
    return bytes(out)


class FrameSync:
    """Frame synchronisation of a byte stream of ASM-prefixed fixed-length frames (CADUs),
    derandomised when asked."""

    def __init__(self, frame_len: int, derandomise: bool = False) -> None:
        if frame_len < 8:
            raise ValueError(f"frame length {frame_len}: at least 8 octets")
        self.frame_len = frame_len
        self.derandomise = derandomise
        self._tail = b""
        self._skipped = ffi.new("uint64_t *")
        self._out_len = ffi.new("size_t *")
        self._next = ffi.new("size_t *")

    @property
    def skipped(self) -> int:
        """Octets passed over while searching for a marker."""
        return self._skipped[0]

    @property
    def pending(self) -> bool:
        """Whether a frame has begun (its marker seen) and not yet ended."""
        return self._tail[:4] == ASM

    def feed(self, data: bytes) -> bytes:
        """The frames that ``data`` completes, concatenated (the rest kept for the next call)."""
        stream = self._tail + data if self._tail else data
        cap = len(stream)
        out = ffi.new("uint8_t[]", max(cap, 1))
        lib.pn_cadu_sync(
            stream,
            len(stream),
            self.frame_len,
            int(self.derandomise),
            out,
            cap,
            self._out_len,
            self._next,
            self._skipped,
        )
        self._tail = stream[self._next[0] :]
        return ffi.buffer(out, self._out_len[0])[:]


def cltu(data: object) -> bytes:
    """One CLTU carrying ``data``: start sequence, BCH(63,56) codeblocks, tail sequence."""
    src = _view(data)
    if not len(src):
        raise ValueError("a CLTU carries at least one octet")
    cap = lib.pn_cltu_len(len(src))
    out = ffi.new("uint8_t[]", cap)
    return ffi.buffer(out, lib.pn_cltu_encode(src, len(src), out, cap))[:]


class CltuSync:
    """The CLTUs of a byte stream: each unit's information octets (its frame and the fill of its
    last codeblock), the rest kept for the next call. A unit with a codeblock that does not check
    ends there (``abandoned``); octets between units are passed over (``skipped``)."""

    def __init__(self) -> None:
        self._tail = b""
        self._counts = ffi.new("pn_cltu_counts *")
        self._next = ffi.new("size_t *")

    @property
    def units(self) -> int:
        return self._counts.units

    @property
    def abandoned(self) -> int:
        return self._counts.abandoned

    @property
    def skipped(self) -> int:
        return self._counts.skipped

    def feed(self, data: bytes) -> list[bytes]:
        stream = self._tail + data if self._tail else data
        cap = max(len(stream), 1)
        out = ffi.new("uint8_t[]", cap)
        most = len(stream) // 10 + 1
        lengths = ffi.new("uint32_t[]", most)
        n = lib.pn_cltu_sync(stream, len(stream), out, cap, lengths, most, self._next, self._counts)
        self._tail = stream[self._next[0] :]
        units, at = [], 0
        for i in range(n):
            units.append(ffi.buffer(out + at, lengths[i])[:])
            at += lengths[i]
        return units
