"""Benchmark of the native core against its peers, measured side by side in one run.

Checksums: our CRC-32C, CRC-16/CCITT-FALSE and the CFDP file CRCs (CRC-32, Proximity-1 CRC-32),
every CPU path, against fastcrc, crc32c, google-crc32c, crcmod and zlib.crc32 on 1 KiB, 64 KiB,
1 MiB and 64 MiB buffers, and on 256-byte frames one call each. Packets: native.scan_packets
(every CRC checked) against spacepackets' parse_space_packets and PusTm.unpack per packet, 100 000
packets of 200-byte payload. Memory bandwidth (numpy sum over 64 MiB) for scale. Figures are
medians of several repetitions.

spacepackets pins an old fastcrc, so the checksum half runs under --checksum-python, an
environment with the newest fastcrc (make bench sets it up); this process runs the rest and
prints and writes everything.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable

import numpy as np

# This script is named like the package it measures: never import itself as `native`.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import native  # noqa: E402

SIZES = {"1 KiB": 1 << 10, "64 KiB": 1 << 16, "1 MiB": 1 << 20, "64 MiB": 1 << 26}
FRAME = 256
PACKETS = 100_000
PAYLOAD = 200
SAMPLE_S = 0.05  # each sample runs at least this long


def seconds_per_call(fn: Callable[[], object], repeats: int = 7) -> float:
    """Median seconds per call over ``repeats`` samples of at least SAMPLE_S each."""
    fn()
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= SAMPLE_S:
            break
        loops *= 2 if elapsed == 0 else max(2, int(SAMPLE_S / elapsed * 1.2))
    samples = [elapsed / loops]
    for _ in range(repeats - 1):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - start) / loops)
    return statistics.median(samples)


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def checksum_impls() -> dict[str, dict[str, Callable[[bytes], int]]]:
    """CRC name -> implementation name -> function of one buffer."""
    import crc32c
    import crcmod
    import crcmod.predefined
    import fastcrc
    import google_crc32c

    def ours(fn: Callable, path: str) -> Callable[[bytes], int]:
        def run(data: bytes) -> int:
            return fn(data)

        run.path = path  # type: ignore[attr-defined]
        return run

    c32 = {f"ours ({p})": ours(native.crc32c, p) for p in native.crc_paths()}
    c16 = {f"ours ({p})": ours(native.crc16, p) for p in native.crc_paths()}
    c32 |= {
        "fastcrc": fastcrc.crc32.iscsi,
        "crc32c": crc32c.crc32c,
        "google-crc32c": google_crc32c.value,
        "zlib.crc32 (CRC-32, not C)": zlib.crc32,
    }
    c16 |= {
        "fastcrc": fastcrc.crc16.ibm_3740,
        "crcmod": crcmod.predefined.mkCrcFun("crc-ccitt-false"),
    }
    ieee = {f"ours ({p})": ours(native.crc32, p) for p in native.crc_paths()}
    ieee |= {
        "fastcrc": fastcrc.crc32.iso_hdlc,
        "zlib.crc32": zlib.crc32,
        "crcmod": crcmod.predefined.mkCrcFun("crc-32"),
    }
    prox1 = {f"ours ({p})": ours(native.crc32_prox1, p) for p in native.crc_paths()}
    prox1["crcmod"] = crcmod.mkCrcFun(0x100A00805, initCrc=0, rev=False, xorOut=0)
    return {
        "CRC-32C": c32,
        "CRC-16/CCITT-FALSE": c16,
        "CRC-32 (CFDP type 3)": ieee,
        "Proximity-1 CRC-32 (CFDP type 1)": prox1,
    }


def run_checksums() -> dict:
    """The checksum half: throughput per buffer size, and calls per second on 256-byte frames."""
    rng = np.random.default_rng(1)
    default_path = native.crc_path()
    results: dict = {
        "versions": {d: version(d) for d in ("fastcrc", "crc32c", "google-crc32c", "crcmod")},
        "google_crc32c_implementation": __import__("google_crc32c").implementation,
        "default_path": default_path,
        "buffers": [],
        "frames": [],
    }
    for crc, impls in checksum_impls().items():
        for label, size in list(SIZES.items()) + [("256 B frames", FRAME)]:
            data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            expected = None
            for name, fn in impls.items():
                path = getattr(fn, "path", None)
                if path:
                    native.set_crc_path(path)
                value = fn(data)
                if "zlib" not in name:
                    assert expected in (None, value), f"{crc} {name} disagrees"
                    expected = value
                t = seconds_per_call(
                    lambda fn=fn, data=data: fn(data), repeats=5 if size >= SIZES["64 MiB"] else 7
                )
                row = {
                    "crc": crc,
                    "buffer": label,
                    "impl": name,
                    "seconds": t,
                    "gbps": size / t / 1e9,
                    "calls_per_s": 1 / t,
                }
                results["frames" if size == FRAME else "buffers"].append(row)
            native.set_crc_path(default_path)
    return results


def build_packets() -> bytes:
    payload = bytes(range(PAYLOAD))
    return b"".join(
        native.pack_tm(
            apid=0x65,
            seq_count=i & 0x3FFF,
            service=3,
            subtype=25,
            msg_counter=i & 0xFFFF,
            dest_id=0x100,
            coarse_time=1_767_225_600 + i,
            fine_time=0,
            time_synced=True,
            data=payload,
        )
        for i in range(PACKETS)
    )


def run_packets() -> dict:
    """The packet half: packets per second scanning 100 000 concatenated packets."""
    from spacepackets.ccsds.spacepacket import PacketId, PacketType, parse_space_packets
    from spacepackets.ecss.tm import PusTm

    stream = build_packets()
    rows, trailing = native.scan_packets(stream)
    assert len(rows) == PACKETS and trailing == 0 and rows["crc_ok"].all()
    ids = [PacketId(PacketType.TM, True, 0x65)]
    parsed = parse_space_packets(stream, ids)
    assert len(parsed.tm_list) == PACKETS
    singles = [stream[o : o + n] for o, n in zip(rows["offset"], rows["length"], strict=True)]
    timings = {
        "ours: native.scan_packets (CRC checked)": seconds_per_call(
            lambda: native.scan_packets(stream), repeats=7
        ),
        "spacepackets: parse_space_packets (no CRC check)": seconds_per_call(
            lambda: parse_space_packets(stream, ids), repeats=5
        ),
        "spacepackets: PusTm.unpack per packet (CRC checked)": seconds_per_call(
            lambda: [PusTm.unpack(p, timestamp_len=6) for p in singles], repeats=3
        ),
    }
    return {
        "packets": PACKETS,
        "payload": PAYLOAD,
        "bytes": len(stream),
        "spacepackets": version("spacepackets"),
        "spacepackets_fastcrc": version("fastcrc"),
        "rows": [
            {"impl": k, "seconds": t, "packets_per_s": PACKETS / t, "gbps": len(stream) / t / 1e9}
            for k, t in timings.items()
        ],
    }


def memory_bandwidth() -> float:
    data = np.ones(SIZES["64 MiB"] // 8, dtype=np.uint64)
    return data.nbytes / seconds_per_call(lambda: data.sum(), repeats=7) / 1e9


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def report(doc: dict) -> str:
    """The human tables: throughput, and our ratio to each peer."""
    out = [
        f"Machine: {doc['machine']['cpu']}, {doc['machine']['cores']} cores, "
        f"Python {doc['machine']['python']}",
        f"Peers: {', '.join(f'{k} {v}' for k, v in doc['checksums']['versions'].items())}; "
        f"google-crc32c implementation {doc['checksums']['google_crc32c_implementation']}; "
        f"spacepackets {doc['packets']['spacepackets']} "
        f"(with its fastcrc {doc['packets']['spacepackets_fastcrc']})",
        f"Memory read bandwidth (numpy sum, 64 MiB): {doc['memory_gbps']:.1f} GB/s",
        f"Our default CRC path: {doc['checksums']['default_path']}",
        "",
    ]
    ours = f"ours ({doc['checksums']['default_path']})"
    rows = doc["checksums"]["buffers"]
    for crc in dict.fromkeys(r["crc"] for r in rows):
        out.append(f"{crc}: GB/s (median); ratio = ours / peer; % of memory bandwidth")
        for label in SIZES:
            here = {r["impl"]: r["gbps"] for r in rows if r["crc"] == crc and r["buffer"] == label}
            mine = here[ours]
            peers = "  ".join(
                f"{k} {v:.2f} ({mine / v:.2f}x)"
                for k, v in here.items()
                if not k.startswith("ours")
            )
            paths = "  ".join(f"{k[6:-1]} {v:.2f}" for k, v in here.items() if k.startswith("ours"))
            out.append(
                f"  {label:7} ours {mine:6.2f} ({100 * mine / doc['memory_gbps']:.0f}% of "
                f"memory) | paths: {paths} | {peers}"
            )
        frames = {
            r["impl"]: r["calls_per_s"] for r in doc["checksums"]["frames"] if r["crc"] == crc
        }
        mine = frames[ours]
        peers = "  ".join(
            f"{k} {v / 1e6:.2f} M ({mine / v:.2f}x)"
            for k, v in frames.items()
            if not k.startswith("ours")
        )
        out.append(f"  256 B frames, calls/s: ours {mine / 1e6:.2f} M | {peers}")
        out.append("")
    p = doc["packets"]
    out.append(
        f"Packets: {p['packets']} PUS TM packets of {p['payload']}-byte payload "
        f"({p['bytes'] / 1e6:.1f} MB)"
    )
    base = p["rows"][0]["packets_per_s"]
    for r in p["rows"]:
        out.append(
            f"  {r['impl']:55} {r['packets_per_s'] / 1e6:8.3f} M pkt/s "
            f"{r['gbps']:6.2f} GB/s  ours is {base / r['packets_per_s']:.1f}x"
        )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures to this file ('-': stdout, alone)")
    parser.add_argument(
        "--checksum-python",
        default=sys.executable,
        help="interpreter of the environment with the checksum peers",
    )
    parser.add_argument("--section", choices=["all", "checksums"], default="all")
    args = parser.parse_args()
    if args.section == "checksums":
        json.dump(run_checksums(), sys.stdout)
        return 0
    child = subprocess.run(
        [args.checksum_python, os.path.abspath(__file__), "--section", "checksums"],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        print(f"bench: the checksum half failed:\n{child.stderr}", file=sys.stderr)
        return 1
    doc = {
        "machine": machine(),
        "memory_gbps": memory_bandwidth(),
        "checksums": json.loads(child.stdout),
        "packets": run_packets(),
    }
    print(report(doc))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as out:
            json.dump(doc, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
