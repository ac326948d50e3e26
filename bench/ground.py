"""Benchmark of the ground archive's ingest: packets per second into SQLite, ours against the
same archive with each packet first decoded by spacepackets' PusTm.unpack (what a Python ground
system built on the peer pays to index a packet), same packets, one run, medians of several
repetitions.

    .venv/bin/python bench/ground.py [--packets 200000] [--repeat 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from spacepackets.ecss.tm import PusTm

from flight.protocol.messages import encode_telemetry
from flight.protocol.packets import build_tm
from flight.dictionary import APID_PAYLOAD, HK_FIELDS, SOURCE_GROUND
from ground.archive import CHUNK, Archive

T0 = 1_773_964_800.0


def housekeeping_packets(n: int) -> list[bytes]:
    values = {f.name: 0 for f in HK_FIELDS} | {"sid": 1, "gpu_valid": 1}
    _, data = encode_telemetry("HOUSEKEEPING", values)
    return [
        build_tm(
            APID_PAYLOAD,
            i & 0x3FFF,
            3,
            25,
            data,
            msg_counter=i & 0xFFFF,
            dest_id=SOURCE_GROUND,
            time=T0 + i,
            time_synced=True,
        )
        for i in range(n)
    ]


def ours(archive: Archive, packets: list[bytes]) -> None:
    for raw in packets:
        archive.packet(raw, 2e9)
    archive.flush()


def peer(archive: Archive, packets: list[bytes]) -> None:
    """The same archive, each packet first decoded by spacepackets' PusTm (as a ground system
    built on the peer would, to index it)."""
    for raw in packets:
        PusTm.unpack(raw, timestamp_len=6)
        archive.packet(raw, 2e9)
    archive.flush()


def rate(fn, packets: list[bytes], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            archive = Archive(Path(tmp) / "a.sqlite")
            start = time.perf_counter()
            fn(archive, packets)
            out.append(len(packets) / (time.perf_counter() - start))
            assert archive.count() == len(packets)
            archive.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    packets = housekeeping_packets(args.packets)
    runs = {
        "ours": rate(ours, packets, args.repeat),
        "spacepackets": rate(peer, packets, args.repeat),
    }
    medians = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}"
    )
    print(
        f"Archive ingest, {args.packets} housekeeping packets of {len(packets[0])} octets, "
        f"chunks of {CHUNK}, {args.repeat} runs (packets/s):"
    )
    for name, values in runs.items():
        print(
            f"  {name:12} median {medians[name]:10.0f}  runs "
            + " ".join(f"{v:.0f}" for v in values)
        )
    print(
        f"  ours / spacepackets: {medians['ours'] / medians['spacepackets']:.2f}x; "
        f"target >= 100000/s: {'held' if medians['ours'] >= 100_000 else 'NOT held'}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs, "medians": medians}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
