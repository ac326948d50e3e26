"""Benchmark of the downlink: our CFDP stack against cfdp-py, and over emulated space links.

1. UDP loopback, class 2, the same file (100 MB by default) and the same 1024-octet segments:
   our stand-alone endpoints (python -m flight cfdp send, python -m ground cfdp receive) and
   cfdp-py's handlers (bench/cfdppy_endpoint.py), each pair in its own processes, --repeat runs
   each; goodput is the file's size over the sender's transaction time (request to Finished
   acknowledged), and the ratio is of the medians.
2. Our stack through the bench's link emulator (python -m hil link) at a set rate, paced by the
   sender at that rate: bit errors at BER 1e-6 (PDU CRC on), 5% datagram loss each way, and
   three outages. Goodput is set against the link rate.
3. Class 1 at the default settings (our sender paces itself unless told a rate): --class1
   transfers (20) of 2.5 MB to cfdp-py, which keeps the system's socket buffers as a program
   that sets none does; the target is every one intact (exit status 1 otherwise).

Every received file is compared with what was sent. Prints a table and writes --json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from flight.downlink import file_sha256

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONSAFEPATH": "1"}
SEGMENT = 1024
CLASS1_OCTETS = 2_500_000


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait(proc: subprocess.Popen, timeout: float) -> list[dict]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(
            f"{proc.args[1:3]} did not finish in {timeout} s: {err[-500:]}"
        ) from None
    if proc.returncode != 0:
        raise RuntimeError(f"{proc.args[1:4]} exited {proc.returncode}: {err[-800:]}")
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def ours_receiver(out: Path, work: Path) -> tuple[subprocess.Popen, int]:
    line = "-m ground cfdp receive --link udp://127.0.0.1:0 --local-id 2 --count 1 --json"
    rx = start([*line.split(), "--timeout", "600", "--out", str(out)], work)
    return rx, json.loads(rx.stdout.readline())["listening"]


def ours_send(path: Path, port: int, rate: float | None = None, crc: bool = False) -> list[str]:
    link = f"udp://127.0.0.1:{port}" + (f"?rate={rate:.0f}" if rate else "")
    line = f"-m flight cfdp send --local-id 1 --remote-id 2 --segment {SEGMENT} --json"
    return [*line.split(), "--timeout", "600", "--link", link, str(path)] + (
        ["--pdu-crc"] if crc else []
    )


def run_ours(
    path: Path,
    work: Path,
    emulate: list[str] | None = None,
    rate: float | None = None,
    crc: bool = False,
) -> dict:
    out = Path(tempfile.mkdtemp(dir=work))
    rx, port = ours_receiver(out, work)
    emu = None
    if emulate is not None:
        line = f"-m hil link --listen 127.0.0.1:0 --to 127.0.0.1:{port} --rate {rate:g}"
        emu = start([*line.split(), *emulate], work)
        port = json.loads(emu.stdout.readline())["listening"]
    sent = wait(start(ours_send(path, port, rate, crc), work), 900)[-1]
    received = wait(rx, 60)[-1]
    stats = None
    if emu is not None:
        emu.terminate()
        stats = wait(emu, 30)[-1]
    got = Path(received["path"]) if received["delivered"] else None
    return outcome("ours", path, sent, got) | {"link": stats}


def run_cfdppy(path: Path, work: Path) -> dict:
    out = Path(tempfile.mkdtemp(dir=work))
    peer = str(HERE / "cfdppy_endpoint.py")
    common = f"--segment {SEGMENT} --timeout 900".split()
    rx = start(
        [peer, "receive", "--listen", "127.0.0.1:0", "--local-id", "2", "--out", str(out), *common],
        work,
    )
    port = json.loads(rx.stdout.readline())["listening"]
    line = f"send --to 127.0.0.1:{port} --local-id 1 --remote-id 2"
    sent = wait(start([peer, *line.split(), *common, str(path)], work), 960)[-1]
    received = wait(rx, 60)[-1]
    return outcome("cfdp-py", path, sent, out / path.name if received["delivered"] else None)


def run_class1_default(path: Path, work: Path) -> bool:
    """Our sender, class 1 at its default settings, to cfdp-py with the system's socket
    buffers: whether the file arrived intact."""
    out = Path(tempfile.mkdtemp(dir=work))
    peer = str(HERE / "cfdppy_endpoint.py")
    line = "receive --listen 127.0.0.1:0 --local-id 2 --timeout 120 --system-buffers --out"
    rx = start([peer, *line.split(), str(out)], work)
    port = json.loads(rx.stdout.readline())["listening"]
    line = f"-m flight cfdp send --link udp://127.0.0.1:{port} --local-id 1 --remote-id 2"
    wait(start([*line.split(), "--class", "1", "--json", str(path)], work), 120)
    received = wait(rx, 60)[-1]
    return received["delivered"] and file_sha256(out / path.name) == file_sha256(path)


def outcome(stack: str, path: Path, sent: dict, received: Path | None) -> dict:
    """One run's figures: the sender's time, and whether the file arrived as it was sent."""
    return {
        "stack": stack,
        "seconds": sent["seconds"],
        "delivered": sent["delivered"],
        "intact": received is not None and file_sha256(received) == file_sha256(path),
        "size": path.stat().st_size,
    }


def goodput(run: dict) -> float:
    return run["size"] / run["seconds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100.0, help="loopback file size, MB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20e6, help="emulated link rate, bit/s")
    parser.add_argument("--link-mb", type=float, default=20.0, help="emulated-link file size, MB")
    parser.add_argument(
        "--class1", type=int, default=20, help="class 1 transfers of 2.5 MB at the defaults"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    doc: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "segment": SEGMENT,
        "rate_bps": args.rate,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        big = work / "loopback.bin"
        big.write_bytes(os.urandom(int(args.size_mb * 1e6)))
        loop = {"ours": [], "cfdp-py": []}
        for _ in range(args.repeat):
            for stack, run in (("ours", run_ours), ("cfdp-py", run_cfdppy)):
                os.sync()  # the last run's files written back: no run pays for another's
                loop[stack].append(run(big, work))
        doc["loopback"] = loop
        medians = {k: statistics.median(goodput(r) for r in v) for k, v in loop.items()}
        doc["loopback_median_mbps"] = {k: v / 1e6 for k, v in medians.items()}
        doc["loopback_ratio"] = medians["ours"] / medians["cfdp-py"]

        small = work / "link.bin"
        small.write_bytes(os.urandom(int(args.link_mb * 1e6)))
        cases = {
            "BER 1e-6, 20 ms each way": (["--ber", "1e-6", "--delay", "0.02"], True),
            "5% loss each way, 20 ms": (["--loss", "0.05", "--delay", "0.02"], False),
            "3 outages of 1.5 s, 20 ms": (
                [
                    "--delay",
                    "0.02",
                    "--outage",
                    "1:1.5",
                    "--outage",
                    "3.5:1.5",
                    "--outage",
                    "6:1.5",
                ],
                False,
            ),
        }
        doc["emulated"] = {}
        for name, (emulate, crc) in cases.items():
            runs = []
            for _ in range(args.repeat):
                os.sync()
                runs.append(run_ours(small, work, emulate, args.rate, crc))
            doc["emulated"][name] = runs

        file = work / "class1.bin"
        doc["class1_intact"] = []
        for _ in range(args.class1):
            file.write_bytes(os.urandom(CLASS1_OCTETS))
            doc["class1_intact"].append(run_class1_default(file, work))
    report(doc, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1))
    ok = all(r["intact"] for v in doc["loopback"].values() for r in v) and all(
        r["intact"] for v in doc["emulated"].values() for r in v
    )
    if not all(doc["class1_intact"]):
        print("MISSED: class 1 at the default settings: every transfer to cfdp-py intact")
        ok = False
    return 0 if ok else 1


def report(doc: dict, args: argparse.Namespace) -> None:
    print(
        f"Machine: {doc['machine']}; Python {platform.python_version()}; segment {SEGMENT} octets"
    )
    print(f"UDP loopback, class 2, {args.size_mb:g} MB, {args.repeat} runs each (goodput MB/s):")
    for stack, runs in doc["loopback"].items():
        figures = " ".join(f"{goodput(r) / 1e6:.1f}" for r in runs)
        intact = all(r["intact"] for r in runs)
        print(
            f"  {stack:8} median {doc['loopback_median_mbps'][stack]:6.1f}  runs {figures}"
            f"  intact {intact}"
        )
    print(f"  ours / cfdp-py: {doc['loopback_ratio']:.2f}x (medians)")
    rate = doc["rate_bps"]
    print(f"Emulated link at {rate / 1e6:g} Mbit/s, ours, class 2, {args.link_mb:g} MB:")
    for name, runs in doc["emulated"].items():
        ratios = [goodput(r) * 8 / rate for r in runs]
        corrupted = sum(r["link"]["a_to_b"]["corrupted"] for r in runs)
        lost = sum(
            r["link"]["a_to_b"]["dropped_loss"] + r["link"]["a_to_b"]["dropped_outage"]
            for r in runs
        )
        print(
            f"  {name:28} goodput/rate median {statistics.median(ratios):.3f} "
            f"(runs {' '.join(f'{x:.3f}' for x in ratios)}); PDUs corrupted {corrupted}, "
            f"lost {lost}; intact {all(r['intact'] for r in runs)}"
        )
    intact = doc["class1_intact"]
    print(
        f"Class 1 at the default settings to cfdp-py (the system's socket buffers), "
        f"{CLASS1_OCTETS / 1e6:g} MB: {sum(intact)} of {len(intact)} intact (target: every one)"
    )


if __name__ == "__main__":
    sys.exit(main())
