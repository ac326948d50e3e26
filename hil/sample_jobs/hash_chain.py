"""Sample job: a SHA-256 hash chain of a given length, written to result.json in the job directory;
with ``--result-octets N``, also result.bin, N octets drawn from the chain's end (SHAKE-256), as a
job whose output is a model or a dataset leaves a large result. The chain starts from ``--seed``,
or from the contents of a job input (``--seed-file NAME``, in JOB_INPUT_DIR).

Stops cleanly on SIGTERM (exit status 143) between rounds, as the job protocol asks.
"""

import argparse
import hashlib
import json
import os
import signal
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=1_000_000)
    parser.add_argument("--seed", default="orbital-gpu-payload")
    parser.add_argument("--seed-file", help="a job input whose contents are the seed")
    parser.add_argument("--result-octets", type=int, default=0)
    args = parser.parse_args()
    if args.seed_file is not None:
        args.seed = (Path(os.environ["JOB_INPUT_DIR"]) / args.seed_file).read_text()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    digest = args.seed.encode()
    for i in range(args.iterations):
        digest = hashlib.sha256(digest).digest()
        if i % 100_000 == 0:
            print(f"round {i} of {args.iterations}", flush=True)
            if stopping:
                return 143
    with open("result.json", "w") as out:
        json.dump({"iterations": args.iterations, "sha256": digest.hex()}, out)
    if args.result_octets > 0:
        with open("result.bin", "wb") as out:
            out.write(hashlib.shake_256(digest).digest(args.result_octets))
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
