"""USLP frames through the C core on one core, beside spacepackets' USLP module as the peer.

The same stream of space packets (housekeeping-sized and file-PDU-sized, as the downlink carries)
goes into fixed-length frames (1115 octets, the space link's, with CLCW and CRC-16) and back:
- encode: packets into frames (first header pointers, frame counts, the CLCW, the CRC);
- decode: frames read (headers, CRC checked) and their packets taken out again;
- CADU: frames randomised behind an ASM, then found again in the byte stream and derandomised;
and the peer packs and unpacks the same frames one at a time (a sample of them: it is slower).

    python bench/uslp.py [--megabytes 64] [--rounds 5] [--json FILE]

Prints each median in Gbit/s of frames and the ratio of ours to the peer's. Exits 1 when encode
or decode runs below 1 Gbit/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from spacepackets.uslp.frame import (  # noqa: E402
    FixedFrameProperties,
    FrameType,
    TransferFrame,
    TransferFrameDataField,
)
from spacepackets.uslp.header import (  # noqa: E402
    BypassSequenceControlFlag,
    PrimaryHeader,
    ProtocolCommandFlag,
    SourceOrDestField,
)

from native import pack_primary_header, uslp  # noqa: E402

FRAME_LEN = 1115
TARGET_GBPS = 1.0
PEER_FRAMES = 2000


def _packets(megabytes: int) -> bytes:
    rng = random.Random(21)
    bodies = [rng.randbytes(n) for n in (180, 240, 1000, 1020, 64)]
    out = bytearray()
    seq = 0
    while len(out) < megabytes << 20:
        body = bodies[seq % len(bodies)]
        head = pack_primary_header(
            type=0, apid=0x65, seq_count=seq & 0x3FFF, data_length=len(body) - 1
        )
        out += head + body
        seq += 1
    return bytes(out)


def _best(rounds: int, work) -> float:
    """The median time of ``work()`` over ``rounds`` runs."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _ours(packets: bytes, rounds: int) -> tuple[dict[str, float], bytes]:
    def encode() -> bytes:
        packer = uslp.PacketPacker(scid=0x1A2, vcid=0, frame_len=FRAME_LEN)
        packer.set_clcw(b"\x01\x00\x00\x00")
        return packer.put(packets) + packer.flush()

    frames = encode()
    t_encode = _best(rounds, encode)

    def decode() -> bytes:
        return uslp.PacketUnpacker().feed(frames, uslp.FrameScan(frames, FRAME_LEN))

    assert decode()[: len(packets)] == packets
    t_decode = _best(rounds, decode)

    cadus = b"".join(
        uslp.ASM + uslp.randomise(frames[i : i + FRAME_LEN])
        for i in range(0, len(frames), FRAME_LEN)
    )

    def synchronise() -> bytes:
        return uslp.FrameSync(FRAME_LEN, derandomise=True).feed(cadus)

    assert synchronise() == frames
    t_sync = _best(rounds, synchronise)
    gbit = len(frames) * 8 / 1e9
    rates = {"encode": gbit / t_encode, "decode": gbit / t_decode, "cadu_sync": gbit / t_sync}
    return rates, frames


def _peer(frames: bytes, rounds: int) -> dict[str, float]:
    sample = [frames[i : i + FRAME_LEN] for i in range(0, PEER_FRAMES * FRAME_LEN, FRAME_LEN)]
    props = FixedFrameProperties(fixed_len=FRAME_LEN, has_insert_zone=False, has_fecf=True)
    parsed = [TransferFrame.unpack(f, FrameType.FIXED, props) for f in sample]

    def encode() -> None:
        for f in parsed:
            header = PrimaryHeader(
                scid=f.header.scid,
                src_dest=SourceOrDestField.SOURCE,
                vcid=f.header.vcid,
                map_id=0,
                frame_len=FRAME_LEN - 1,
                vcf_count_len=2,
                vcf_count=f.header.vcf_count,
                op_ctrl_flag=True,
                prot_ctrl_cmd_flag=ProtocolCommandFlag.USER_DATA,
                bypass_seq_ctrl_flag=BypassSequenceControlFlag.SEQ_CTRLD_QOS,
            )
            tfdf = TransferFrameDataField(
                f.tfdf.tfdz_contr_rules, f.tfdf.uslp_ident, f.tfdf.tfdz, f.tfdf.fhp_or_lvop
            )
            TransferFrame(header, tfdf, op_ctrl_field=f.op_ctrl_field).pack(
                frame_type=FrameType.FIXED
            )

    def decode() -> None:
        for f in sample:
            TransferFrame.unpack(f, FrameType.FIXED, props)

    assert (
        bytes(
            TransferFrame(
                parsed[0].header, parsed[0].tfdf, op_ctrl_field=parsed[0].op_ctrl_field
            ).pack(frame_type=FrameType.FIXED)
        )
        == sample[0]
    )
    gbit = len(sample) * FRAME_LEN * 8 / 1e9
    return {"encode": gbit / _best(rounds, encode), "decode": gbit / _best(rounds, decode)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    ours, frames = _ours(_packets(args.megabytes), args.rounds)
    peer = _peer(frames, args.rounds)
    print(f"USLP frames of {FRAME_LEN} octets, one core, medians of {args.rounds}:")
    for step in ("encode", "decode"):
        ratio = ours[step] / peer[step]
        print(
            f"  {step}: ours {ours[step]:.2f} Gbit/s, spacepackets {peer[step] * 1000:.2f} Mbit/s "
            f"({ratio:.0f}x); target {TARGET_GBPS} Gbit/s"
        )
    print(f"  CADU sync (ASM search, derandomise): ours {ours['cadu_sync']:.2f} Gbit/s")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"frame_len": FRAME_LEN, "ours_gbps": ours, "peer_gbps": peer}, out, indent=1)
    missed = [step for step in ("encode", "decode") if ours[step] < TARGET_GBPS]
    if missed:
        print(f"MISSED: {', '.join(missed)} below {TARGET_GBPS} Gbit/s")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
