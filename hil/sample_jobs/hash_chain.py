"""Sample job: a SHA-256 hash chain of a given length, written to result.json in the job directory.

Stops cleanly on SIGTERM (exit status 143) between rounds, as the job protocol asks.
"""

import argparse
import hashlib
import json
import signal
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=1_000_000)
    parser.add_argument("--seed", default="orbital-gpu-payload")
    args = parser.parse_args()
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
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
