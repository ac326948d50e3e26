"""Run the Python decoders' fuzz targets (fuzz/targets.py) under atheris, coverage-guided, each
for a number of seconds in a process of its own; seeds from fuzz/corpus/TARGET, new inputs kept in
OUT/corpus-TARGET, a crashing input written to OUT and the run failed.

    python fuzz/run.py [TARGET ...] [--seconds 60] [--out build/fuzz]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fuzz_one(name: str, seconds: int, out: Path) -> int:
    """The child: fuzz one target until the time is up (libFuzzer exits the process)."""
    import atheris

    sys.path.insert(0, str(HERE))
    with atheris.instrument_imports(include=["flight", "targets"]):
        from targets import TARGETS

    corpus = out / f"corpus-py-{name}"
    corpus.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.argv[0],
        str(corpus),
        str(HERE / "corpus" / name),
        f"-max_total_time={seconds}",
        "-print_final_stats=1",
        f"-artifact_prefix={out}/crash-py-{name}-",
    ]
    atheris.Setup(argv, TARGETS[name])
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="default: every target")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("build/fuzz"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return fuzz_one(args.child, args.seconds, args.out.resolve())
    sys.path.insert(0, str(HERE))
    from targets import TARGETS

    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        print(f"fuzz: no target {', '.join(unknown)} (targets: {', '.join(TARGETS)})")
        return 2
    failed = 0
    for name in args.targets or TARGETS:
        tally = args.out.resolve() / f"{name}.cases"
        tally.unlink(missing_ok=True)
        run = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                name,
                "--seconds",
                str(args.seconds),
                "--out",
                str(args.out),
            ],
            capture_output=True,
            text=True,
            env=os.environ | {"FUZZ_TALLY": str(tally)},
        )
        stats = [line for line in run.stderr.splitlines() if line.startswith("stat::number_of")]
        for line in stats:
            print(f"fuzz_py_{name}: {line}")
        if tally.exists():  # the commanding target: authenticated commands sent and checked
            print(f"fuzz_py_{name}: authenticated cases: {tally.read_text().strip()}")
        if run.returncode != 0:  # the finding: the exception, its input, the crash file
            for line in run.stderr.splitlines()[-40:]:
                print(f"fuzz_py_{name}: {line}")
            print(f"fuzz_py_{name}: FAILED (exit {run.returncode})")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
