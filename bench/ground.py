"""Benchmark of the ground archive's ingest: packets per second into each backend, SQLite (a
file, WAL, synchronous=NORMAL) and PostgreSQL (a real server started here, fsync on, binary
COPY), in one run. On each, ours against the same archive with each packet first decoded by
spacepackets' PusTm.unpack (what a Python ground system built on the peer pays to index a
packet); same packets, runs interleaved, medians of several repetitions. Exits 1 if ours misses
100 000 packets/s on either backend.

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
from collections.abc import Callable
from pathlib import Path

from spacepackets.ecss.tm import PusTm

from flight.dictionary import APID_PAYLOAD, HK_FIELDS, SOURCE_GROUND
from flight.protocol.messages import encode_telemetry
from flight.protocol.packets import build_tm
from flight.spacelink.profile import DEFAULT_SCID
from ground.archive import CHUNK, Archive
from hil.postgresql import PostgresServer

T0 = 1_773_964_800.0
TARGET = 100_000


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
        archive.packet(DEFAULT_SCID, raw, 2e9)
    archive.flush()


def peer(archive: Archive, packets: list[bytes]) -> None:
    """The same archive, each packet first decoded by spacepackets' PusTm (as a ground system
    built on the peer would, to index it)."""
    for raw in packets:
        PusTm.unpack(raw, timestamp_len=6)
        archive.packet(DEFAULT_SCID, raw, 2e9)
    archive.flush()


def rate(fn: Callable[[Archive, list[bytes]], None], spec: str, packets: list[bytes]) -> float:
    """Packets per second of one run into a fresh archive."""
    archive = Archive(spec)
    start = time.perf_counter()
    fn(archive, packets)
    elapsed = time.perf_counter() - start
    assert archive.count() == len(packets)
    archive.close()
    return len(packets) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    packets = housekeeping_packets(args.packets)
    runs: dict[str, list[float]] = {
        f"{backend} {side}": [] for backend in ("sqlite", "postgresql") for side in ("ours", "peer")
    }
    with PostgresServer() as server, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for side, fn in (("ours", ours), ("peer", peer)):
                sqlite = str(Path(tmp) / f"{side}-{i}.sqlite")
                runs[f"sqlite {side}"].append(rate(fn, sqlite, packets))
                runs[f"postgresql {side}"].append(rate(fn, server.database(side), packets))
    medians = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}"
    )
    print(
        f"Archive ingest, {args.packets} housekeeping packets of {len(packets[0])} octets, "
        f"chunks of {CHUNK}, {args.repeat} runs each, interleaved (packets/s); peer: each "
        "packet decoded by spacepackets first:"
    )
    for name, values in runs.items():
        print(
            f"  {name:16} median {medians[name]:10.0f}  runs "
            + " ".join(f"{v:.0f}" for v in values)
        )
    missed = []
    for backend in ("sqlite", "postgresql"):
        mine = medians[f"{backend} ours"]
        ratio = mine / medians[f"{backend} peer"]
        verdict = "held" if mine >= TARGET else "NOT held"
        if mine < TARGET:
            missed.append(backend)
        print(f"  {backend}: ours / peer {ratio:.2f}x; target >= {TARGET}/s: {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs, "medians": medians}, indent=1))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
