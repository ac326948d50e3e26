"""Benchmark of the downlink: our CFDP stack against cfdp-py, and over emulated space links.

1. UDP loopback, class 2, the same file (100 MB by default) at 1 KiB, 8 KiB and 64 KiB segments
   (65 000 octets: a 65 536-octet segment and its header do not fit the largest UDP datagram,
   65 507 octets): our stand-alone endpoints (python -m flight cfdp send, python -m ground cfdp
   receive) and cfdp-py's handlers (bench/cfdppy_endpoint.py) at the same size, each pair in its
   own processes, --repeat runs each; goodput is the file's size over the sender's transaction
   time (request to Finished acknowledged), the ratio is of the medians, and each side's CPU
   seconds (user and system) per GB are reported.
2. Ours alone over UDP loopback with a 1 GB file (--big-mb) at 64 KiB segments; beside it, what
   this machine's file system takes to write that much in 1 MiB pieces and fsync it, the
   receiver's floor (a received file is durable before its Finished goes).
3. Our stack through the bench's link emulator (python -m hil link) paced by the sender at the
   link's rate: at 20 Mbit/s (--rate) bit errors at BER 1e-6 (PDU CRC on), 5% datagram loss each
   way and three outages; at 1 Gbit/s (--fast-rate) bit errors at BER 1e-7 (PDU CRC on, 8 KiB
   segments, a 1 GB file: --fast-link-mb). Goodput is set against the link rate.
4. Class 1 at the default settings (our sender paces itself unless told a rate): --class1
   transfers (20) of 2.5 MB to cfdp-py, which keeps the system's socket buffers as a program
   that sets none does.
5. Class 2, unpaced, with the rate adapted to the congestion the NAKs show (cfdp send --adapt)
   and without: to the same cfdp-py, which it overruns, a 10 MB file (--overrun-mb); and to our
   own receiver over loopback, part 1's file at 1 KiB segments.

Every received file is compared with what was sent. Prints a table and writes --json; exits 1
when a file arrives damaged or a target in TARGETS is missed (each is printed, held or MISSED).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flight.downlink import file_sha256

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONSAFEPATH": "1"}
SEGMENTS = (1024, 8192, 65000)
BIG_SEGMENT = 65000
FAST_SEGMENT = 8192
CLASS1_OCTETS = 2_500_000
TARGETS = {
    "loopback 64 KiB segments, 1 GB file, MB/s": 1000.0,
    "loopback 1 KiB segments, ours / cfdp-py": 30.0,
    "emulated 20 Mbit/s at BER 1e-6, goodput / rate": 0.95,
    "emulated 1 Gbit/s at BER 1e-7, goodput / rate": 0.95,
    "class 1 at the default settings, transfers intact of all": 1.0,
}


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait(proc: subprocess.Popen, timeout: float) -> tuple[list[dict], float]:
    """The JSON lines a process printed, and the CPU seconds (user and system) it used: what
    this process's reaped children used grows by exactly that while it is reaped here."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(
            f"{proc.args[1:3]} did not finish in {timeout} s: {err[-500:]}"
        ) from None
    if proc.returncode != 0:
        raise RuntimeError(f"{proc.args[1:4]} exited {proc.returncode}: {out[-800:]}{err[-800:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")], cpu


def ours_receiver(out: Path, work: Path) -> tuple[subprocess.Popen, int]:
    line = "-m ground cfdp receive --link udp://127.0.0.1:0 --local-id 2 --count 1 --json"
    rx = start([*line.split(), "--timeout", "600", "--out", str(out)], work)
    return rx, json.loads(rx.stdout.readline())["listening"]


def ours_send(
    path: Path, port: int, segment: int, rate: float | None, crc: bool, adapt: bool
) -> list[str]:
    link = f"udp://127.0.0.1:{port}" + (f"?rate={rate:.0f}" if rate else "")
    line = f"-m flight cfdp send --local-id 1 --remote-id 2 --segment {segment} --json"
    return (
        [*line.split(), "--timeout", "600", "--link", link, str(path)]
        + (["--pdu-crc"] if crc else [])
        + (["--adapt"] if adapt else [])
    )


def run_ours(
    path: Path,
    work: Path,
    segment: int,
    emulate: list[str] | None = None,
    rate: float | None = None,
    crc: bool = False,
    adapt: bool = False,
) -> dict:
    out = Path(tempfile.mkdtemp(dir=work))
    rx, port = ours_receiver(out, work)
    emu = None
    if emulate is not None:
        line = f"-m hil link --listen 127.0.0.1:0 --to 127.0.0.1:{port} --rate {rate:g}"
        emu = start([*line.split(), *emulate], work)
        port = json.loads(emu.stdout.readline())["listening"]
    sent, cpu_send = wait(start(ours_send(path, port, segment, rate, crc, adapt), work), 900)
    received, cpu_receive = wait(rx, 60)
    stats = None
    if emu is not None:
        emu.terminate()
        stats = wait(emu, 30)[0][-1]
    got = Path(received[-1]["path"]) if received[-1]["delivered"] else None
    return outcome("ours", path, sent[-1], got, out) | {
        "link": stats,
        "cpu_send": cpu_send,
        "cpu_receive": cpu_receive,
    }


def run_cfdppy(path: Path, work: Path, segment: int) -> dict:
    out = Path(tempfile.mkdtemp(dir=work))
    peer = str(HERE / "cfdppy_endpoint.py")
    common = f"--segment {segment} --timeout 900".split()
    rx = start(
        [peer, "receive", "--listen", "127.0.0.1:0", "--local-id", "2", "--out", str(out), *common],
        work,
    )
    port = json.loads(rx.stdout.readline())["listening"]
    line = f"send --to 127.0.0.1:{port} --local-id 1 --remote-id 2"
    sent, cpu_send = wait(start([peer, *line.split(), *common, str(path)], work), 960)
    received, cpu_receive = wait(rx, 60)
    got = out / path.name if received[-1]["delivered"] else None
    return outcome("cfdp-py", path, sent[-1], got, out) | {
        "cpu_send": cpu_send,
        "cpu_receive": cpu_receive,
    }


def to_overrunnable_cfdppy(path: Path, work: Path, options: list[str], timeout: float) -> tuple:
    """Our sender with ``options`` to cfdp-py with the system's socket buffers, as a program
    that sets none has: what the sender printed, and the receiver's copy or None."""
    out = Path(tempfile.mkdtemp(dir=work))
    peer = str(HERE / "cfdppy_endpoint.py")
    line = f"receive --listen 127.0.0.1:0 --local-id 2 --timeout {timeout:g} --system-buffers"
    rx = start([peer, *line.split(), "--out", str(out)], work)
    port = json.loads(rx.stdout.readline())["listening"]
    line = f"-m flight cfdp send --link udp://127.0.0.1:{port} --local-id 1 --remote-id 2 --json"
    sent, _ = wait(start([*line.split(), *options, str(path)], work), timeout + 60)
    received, _ = wait(rx, 60)
    return sent[-1], (out / path.name if received[-1]["delivered"] else None), out


def run_class1_default(path: Path, work: Path) -> bool:
    """Class 1 at the default settings: whether the file arrived intact."""
    _, got, out = to_overrunnable_cfdppy(path, work, ["--class", "1"], 120)
    intact = got is not None and file_sha256(got) == file_sha256(path)
    shutil.rmtree(out)
    return intact


def run_overrun(path: Path, work: Path, adapt: bool) -> dict:
    """Class 2, unpaced, its rate adapted to congestion or not."""
    sent, got, out = to_overrunnable_cfdppy(path, work, ["--adapt"] if adapt else [], 600)
    return outcome("ours", path, sent, got, out)


def outcome(stack: str, path: Path, sent: dict, received: Path | None, out: Path) -> dict:
    """One run's figures: the sender's time, and whether the file arrived as it was sent (the
    received copy is removed then: a run of 1 GB files leaves none behind)."""
    intact = received is not None and file_sha256(received) == file_sha256(path)
    shutil.rmtree(out)
    return {
        "stack": stack,
        "seconds": sent["seconds"],
        "delivered": sent["delivered"],
        "intact": intact,
        "size": path.stat().st_size,
    }


def goodput(run: dict) -> float:
    return run["size"] / run["seconds"]


def cpu_per_gb(runs: list[dict], side: str) -> float:
    """CPU seconds per GB moved, one side's, median over the runs."""
    return statistics.median(r[f"cpu_{side}"] / (r["size"] / 1e9) for r in runs)


def durable_write_mbps(path: Path, octets: int) -> float:
    """MB/s of writing ``octets`` to a new file in 1 MiB pieces and fsyncing it."""
    piece = os.urandom(1 << 20)
    os.sync()
    start = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for at in range(0, octets, len(piece)):
            os.write(fd, piece[: octets - at])
        os.fsync(fd)
    finally:
        os.close(fd)
    seconds = time.monotonic() - start
    path.unlink()
    return octets / seconds / 1e6


def random_file(path: Path, octets: int) -> Path:
    with path.open("wb") as f:
        for at in range(0, octets, 1 << 24):
            f.write(os.urandom(min(1 << 24, octets - at)))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100.0, help="loopback file size, MB")
    parser.add_argument("--big-mb", type=float, default=1000.0, help="the 64 KiB run's file, MB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20e6, help="emulated link rate, bit/s")
    parser.add_argument("--link-mb", type=float, default=20.0, help="emulated-link file size, MB")
    parser.add_argument("--fast-rate", type=float, default=1e9, help="the fast link's rate, bit/s")
    parser.add_argument(
        "--fast-link-mb", type=float, default=1000.0, help="the fast link's file size, MB"
    )
    parser.add_argument(
        "--class1", type=int, default=20, help="class 1 transfers of 2.5 MB at the defaults"
    )
    parser.add_argument(
        "--overrun-mb", type=float, default=10.0, help="class 2 to an overrun receiver, MB"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    doc: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "rate_bps": args.rate,
        "fast_rate_bps": args.fast_rate,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        loop_file = random_file(work / "loopback.bin", int(args.size_mb * 1e6))
        doc["loopback"] = {}
        for segment in SEGMENTS:
            loop: dict[str, list[dict]] = {"ours": [], "cfdp-py": []}
            for _ in range(args.repeat):
                os.sync()  # the last run's files written back: no run pays for another's
                loop["ours"].append(run_ours(loop_file, work, segment))
                os.sync()
                loop["cfdp-py"].append(run_cfdppy(loop_file, work, segment))
            doc["loopback"][segment] = loop
        doc["adapt_loopback"] = {"adapted": [], "not adapted": doc["loopback"][SEGMENTS[0]]["ours"]}
        for _ in range(args.repeat):
            os.sync()
            doc["adapt_loopback"]["adapted"].append(
                run_ours(loop_file, work, SEGMENTS[0], adapt=True)
            )
        loop_file.unlink()

        big = random_file(work / "big.bin", int(args.big_mb * 1e6))
        doc["big"] = []
        for _ in range(args.repeat):
            os.sync()
            doc["big"].append(run_ours(big, work, BIG_SEGMENT))
        big.unlink()
        # after the runs, not before: a gigabyte just written holds the next writes up
        doc["durable_write_mbps"] = durable_write_mbps(work / "floor.bin", int(args.big_mb * 1e6))

        cases = {
            "BER 1e-6, 20 ms each way": (["--ber", "1e-6", "--delay", "0.02"], True),
            "5% loss each way, 20 ms": (["--loss", "0.05", "--delay", "0.02"], False),
            "3 outages of 1.5 s, 20 ms": (
                ["--delay", "0.02"]
                + ["--outage", "1:1.5", "--outage", "3.5:1.5", "--outage", "6:1.5"],
                False,
            ),
        }
        doc["emulated"] = {}
        small = random_file(work / "link.bin", int(args.link_mb * 1e6))
        for name, (emulate, crc) in cases.items():
            runs = []
            for _ in range(args.repeat):
                os.sync()
                runs.append(run_ours(small, work, SEGMENTS[0], emulate, args.rate, crc))
            doc["emulated"][name] = runs
        small.unlink()
        fast = random_file(work / "fast.bin", int(args.fast_link_mb * 1e6))
        doc["fast"] = []
        for _ in range(args.repeat):
            os.sync()
            emulate = ["--ber", "1e-7", "--delay", "0.02"]
            doc["fast"].append(run_ours(fast, work, FAST_SEGMENT, emulate, args.fast_rate, True))
        fast.unlink()

        file = work / "class1.bin"
        doc["class1_intact"] = []
        for _ in range(args.class1):
            random_file(file, CLASS1_OCTETS)
            doc["class1_intact"].append(run_class1_default(file, work))
        random_file(file, int(args.overrun_mb * 1e6))
        doc["overrun"] = {
            "adapted": run_overrun(file, work, True),
            "not adapted": run_overrun(file, work, False),
        }
    doc["figures"] = figures(doc)
    report(doc, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1))
    runs = [r for v in doc["loopback"].values() for rs in v.values() for r in rs]
    runs += doc["big"] + doc["fast"] + [r for v in doc["emulated"].values() for r in v]
    runs += list(doc["overrun"].values()) + doc["adapt_loopback"]["adapted"]
    ok = all(r["intact"] for r in runs)
    if not ok:
        print("MISSED: a file arrived damaged or not at all")
    for name, target in TARGETS.items():
        held = doc["figures"][name] >= target
        print(f"{'held' if held else 'MISSED'}: {name} >= {target:g} ({doc['figures'][name]:.3f})")
        ok = ok and held
    return 0 if ok else 1


def figures(doc: dict) -> dict[str, float]:
    """The figures the targets are set on: medians over the runs."""

    def ratio(runs: list[dict], rate: float) -> float:
        return statistics.median(goodput(r) * 8 / rate for r in runs)

    small = doc["loopback"][SEGMENTS[0]]
    return {
        "loopback 64 KiB segments, 1 GB file, MB/s": statistics.median(
            goodput(r) / 1e6 for r in doc["big"]
        ),
        "loopback 1 KiB segments, ours / cfdp-py": statistics.median(map(goodput, small["ours"]))
        / statistics.median(map(goodput, small["cfdp-py"])),
        "emulated 20 Mbit/s at BER 1e-6, goodput / rate": ratio(
            doc["emulated"]["BER 1e-6, 20 ms each way"], doc["rate_bps"]
        ),
        "emulated 1 Gbit/s at BER 1e-7, goodput / rate": ratio(doc["fast"], doc["fast_rate_bps"]),
        "class 1 at the default settings, transfers intact of all": sum(doc["class1_intact"])
        / max(1, len(doc["class1_intact"])),
    }


def report(doc: dict, args: argparse.Namespace) -> None:
    print(f"Machine: {doc['machine']}; Python {platform.python_version()}")
    print(
        f"UDP loopback, class 2, {args.size_mb:g} MB, {args.repeat} runs each: goodput MB/s "
        "(median; runs), CPU s/GB sending + receiving (median)"
    )
    for segment, loop in doc["loopback"].items():
        medians = {k: statistics.median(goodput(r) for r in v) / 1e6 for k, v in loop.items()}
        for stack, runs in loop.items():
            figures_ = " ".join(f"{goodput(r) / 1e6:.1f}" for r in runs)
            print(
                f"  {segment:6} octets  {stack:8} {medians[stack]:7.1f}  ({figures_})  CPU "
                f"{cpu_per_gb(runs, 'send'):.2f} + {cpu_per_gb(runs, 'receive'):.2f} s/GB  "
                f"intact {all(r['intact'] for r in runs)}"
            )
        print(f"  {segment:6} octets  ours / cfdp-py {medians['ours'] / medians['cfdp-py']:.2f}x")
    big = doc["big"]
    print(
        f"UDP loopback, ours, class 2, {args.big_mb:g} MB at {BIG_SEGMENT}-octet segments: "
        f"{doc['figures']['loopback 64 KiB segments, 1 GB file, MB/s']:.1f} MB/s "
        f"({' '.join(f'{goodput(r) / 1e6:.1f}' for r in big)}); CPU "
        f"{cpu_per_gb(big, 'send'):.2f} + {cpu_per_gb(big, 'receive'):.2f} s/GB; "
        f"intact {all(r['intact'] for r in big)}"
    )
    print(
        f"  this machine's file system: {args.big_mb:g} MB written in 1 MiB pieces and fsynced "
        f"at {doc['durable_write_mbps']:.1f} MB/s"
    )
    print(f"Emulated link at {doc['rate_bps'] / 1e6:g} Mbit/s, ours, class 2, {args.link_mb:g} MB:")
    for name, runs in doc["emulated"].items():
        emulated_line(name, runs, doc["rate_bps"])
    print(
        f"Emulated link at {doc['fast_rate_bps'] / 1e6:g} Mbit/s, ours, class 2, "
        f"{args.fast_link_mb:g} MB, {FAST_SEGMENT}-octet segments:"
    )
    emulated_line("BER 1e-7, 20 ms each way", doc["fast"], doc["fast_rate_bps"])
    intact = doc["class1_intact"]
    print(
        f"Class 1 at the default settings to cfdp-py (the system's socket buffers), "
        f"{CLASS1_OCTETS / 1e6:g} MB: {sum(intact)} of {len(intact)} intact"
    )
    print(f"Class 2, unpaced, to the same cfdp-py, which it overruns, {args.overrun_mb:g} MB:")
    for name, run in doc["overrun"].items():
        print(
            f"  rate {name:12} {run['seconds']:6.1f} s ({goodput(run) / 1e6:.2f} MB/s); "
            f"intact {run['intact']}"
        )
    print(f"Class 2 to our receiver over loopback, {args.size_mb:g} MB at 1 KiB segments:")
    for name, runs in doc["adapt_loopback"].items():
        figures_ = " ".join(f"{goodput(r) / 1e6:.1f}" for r in runs)
        median = statistics.median(goodput(r) for r in runs) / 1e6
        print(f"  rate {name:12} {median:7.1f} MB/s ({figures_})")


def emulated_line(name: str, runs: list[dict], rate: float) -> None:
    ratios = [goodput(r) * 8 / rate for r in runs]
    corrupted = sum(r["link"]["a_to_b"]["corrupted"] for r in runs)
    lost = sum(
        r["link"]["a_to_b"]["dropped_loss"] + r["link"]["a_to_b"]["dropped_outage"] for r in runs
    )
    print(
        f"  {name:28} goodput/rate median {statistics.median(ratios):.3f} "
        f"(runs {' '.join(f'{x:.3f}' for x in ratios)}); PDUs corrupted {corrupted}, "
        f"lost {lost}; intact {all(r['intact'] for r in runs)}"
    )


if __name__ == "__main__":
    sys.exit(main())
