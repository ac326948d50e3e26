"""USLP frames from the C core (native/uslp.py) against spacepackets' independent USLP module:
what we pack, it reads; what it packs, we read; packets through fixed-length frames come back
whole and in order, and a lost frame costs only the packets it carried."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.uslp.frame import (
    FixedFrameProperties,
    FrameType,
    TfdzConstructionRules,
    TransferFrame,
    TransferFrameDataField,
    UslpProtocolIdentifier,
    VarFrameProperties,
)
from spacepackets.uslp.header import (
    BypassSequenceControlFlag,
    PrimaryHeader,
    ProtocolCommandFlag,
    SourceOrDestField,
)

from native import pack_primary_header, uslp

FIXED = FixedFrameProperties(fixed_len=512, has_insert_zone=False, has_fecf=True)
VARIABLE = VarFrameProperties(has_insert_zone=False, has_fecf=True, truncated_frame_len=0)


def _packet(apid: int, seq: int, body: bytes) -> bytes:
    head = pack_primary_header(type=0, apid=apid, seq_count=seq, data_length=len(body) - 1)
    return head + body


def _packets(rng: random.Random, n: int) -> list[bytes]:
    return [
        _packet(0x65, i, rng.randbytes(rng.choice([1, 9, 200, 499, 500, 1400]))) for i in range(n)
    ]


def test_a_variable_frame_packed_here_reads_there_field_by_field():
    raw = uslp.pack_frame(
        b"telecommand",
        scid=0xBEEF,
        vcid=17,
        map_id=9,
        dest=1,
        bypass=1,
        control=0,
        count_len=1,
        count=0xA5,
    )
    f = TransferFrame.unpack(raw, FrameType.VARIABLE, VARIABLE)
    h = f.header
    assert (h.scid, h.vcid, h.map_id, h.src_dest) == (0xBEEF, 17, 9, SourceOrDestField.DEST)
    assert h.bypass_seq_ctrl_flag == BypassSequenceControlFlag.EXPEDITED_QOS
    assert h.prot_ctrl_cmd_flag == ProtocolCommandFlag.USER_DATA
    assert (h.vcf_count_len, h.vcf_count, h.frame_len) == (1, 0xA5, len(raw) - 1)
    assert f.tfdf.tfdz_contr_rules == TfdzConstructionRules.VpNoSegmentation
    assert f.tfdf.uslp_ident == UslpProtocolIdentifier.SPACE_PACKETS_ENCAPSULATION_PACKETS
    assert f.tfdf.tfdz == b"telecommand"


def test_a_frame_packed_there_reads_here():
    header = PrimaryHeader(
        scid=0x1234,
        src_dest=SourceOrDestField.SOURCE,
        vcid=2,
        map_id=0,
        frame_len=0,
        vcf_count_len=2,
        vcf_count=0x0102,
        op_ctrl_flag=True,
        prot_ctrl_cmd_flag=ProtocolCommandFlag.USER_DATA,
        bypass_seq_ctrl_flag=BypassSequenceControlFlag.SEQ_CTRLD_QOS,
    )
    zone = bytes(range(200)) * 2 + bytes(512 - 7 - 2 - 3 - 4 - 2 - 400)
    tfdf = TransferFrameDataField(
        TfdzConstructionRules.FpPacketSpanningMultipleFrames,
        UslpProtocolIdentifier.SPACE_PACKETS_ENCAPSULATION_PACKETS,
        zone,
        fhp_or_lvop=0x0010,
    )
    frame = TransferFrame(header, tfdf, op_ctrl_field=b"\x01\x08\x00\x2a", has_fecf=True)
    frame.set_frame_len_in_header()
    raw = bytes(frame.pack(frame_type=FrameType.FIXED))
    (row,) = uslp.FrameScan(raw, frame_len=512)
    assert row.ok and (row.scid, row.vcid, row.count, row.pointer) == (0x1234, 2, 0x0102, 0x10)
    assert row.clcw == b"\x01\x08\x00\x2a" and row.zone(raw) == zone
    damaged = raw[:100] + bytes([raw[100] ^ 1]) + raw[101:]
    (bad,) = uslp.FrameScan(damaged, frame_len=512)
    assert bad.problem == "frame CRC"


def test_every_fixed_frame_of_a_packet_stream_reads_there_and_the_packets_come_back():
    rng = random.Random(7)
    packets = _packets(rng, 60)
    packer = uslp.PacketPacker(scid=77, vcid=1, frame_len=512)
    packer.set_clcw(b"\x01\x00\x00\x05")
    frames = packer.put(b"".join(packets)) + packer.flush()
    assert len(frames) % 512 == 0 and packer.frames == len(frames) // 512
    for i in range(0, len(frames), 512):
        f = TransferFrame.unpack(frames[i : i + 512], FrameType.FIXED, FIXED)
        assert (f.header.scid, f.header.vcid, f.header.vcf_count) == (77, 1, i // 512)
        assert f.op_ctrl_field == b"\x01\x00\x00\x05"
    unpacker = uslp.PacketUnpacker()
    out = unpacker.feed(frames, uslp.FrameScan(frames, 512))
    assert out[: sum(map(len, packets))] == b"".join(packets)
    assert unpacker.gaps == 0 and unpacker.dropped == 0


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32), frame_len=st.integers(40, 1500), lost=st.sets(st.integers(0, 80))
)
def test_lost_frames_cost_only_the_packets_they_carried(seed, frame_len, lost):
    rng = random.Random(seed)
    packets = _packets(rng, 40)
    packer = uslp.PacketPacker(scid=1, vcid=0, frame_len=frame_len, count_len=1)
    frames = b""
    for p in packets:  # a flush now and then, as the bench's second ends
        frames += packer.put(p) + (packer.flush() if rng.random() < 0.2 else b"")
    frames += packer.flush()
    kept = b"".join(
        frames[i : i + frame_len]
        for n, i in enumerate(range(0, len(frames), frame_len))
        if n not in lost
    )
    unpacker = uslp.PacketUnpacker()
    out = unpacker.feed(kept, uslp.FrameScan(kept, frame_len))
    rows, rest = _split(out)
    assert rest == b""
    wanted = [p for p in rows if int.from_bytes(p[:2], "big") & 0x7FF != 0x7FF]
    position = 0
    for p in wanted:  # a subsequence of what was sent, each whole
        position = packets.index(p, position) + 1
    if not lost & set(range(len(frames) // frame_len)):
        assert wanted == packets and unpacker.dropped == 0


def _split(stream: bytes) -> tuple[list[bytes], bytes]:
    out = []
    while len(stream) >= 7:
        n = int.from_bytes(stream[4:6], "big") + 7
        out.append(stream[:n])
        stream = stream[n:]
    return out, stream


def test_frame_sync_finds_randomised_cadus_in_noise_split_anywhere():
    rng = random.Random(3)
    packer = uslp.PacketPacker(scid=5, vcid=0, frame_len=256)
    frames = packer.put(b"".join(_packets(rng, 10))) + packer.flush()
    stream = rng.randbytes(37) + b"".join(
        uslp.ASM + uslp.randomise(frames[i : i + 256]) for i in range(0, len(frames), 256)
    )
    sync = uslp.FrameSync(256, derandomise=True)
    got = b""
    at = 0
    while at < len(stream):
        step = rng.randint(1, 300)
        got += sync.feed(stream[at : at + step])
        at += step
    assert got == frames
    assert sync.skipped >= 37 - 3


def test_the_randomiser_sequence_starts_as_the_standard_gives_it():
    assert uslp.randomise(bytes(5)) == bytes.fromhex("FF480EC09A")
    data = random.Random(1).randbytes(1000)
    assert uslp.randomise(uslp.randomise(data)) == data


@pytest.mark.parametrize(
    "fields",
    [{"vcid": 64}, {"map_id": 16}, {"count_len": 1, "count": 256}, {"scid": 1 << 16}],
)
def test_fields_out_of_range_are_refused(fields):
    with pytest.raises((ValueError, OverflowError)):
        uslp.pack_frame(b"x", **({"scid": 1, "vcid": 0} | fields))
    with pytest.raises(ValueError):
        uslp.PacketPacker(scid=1, vcid=0, frame_len=10)
