"""Sample job: a PyTorch CUDA matrix-multiply burn for a given time, reporting TFLOP/s; runs
where torch and an NVIDIA GPU are present (exit 2 with a message elsewhere). Used to load the GPU
under a power cap (tests marked gpu, docs/gpu.md).

Stops on SIGTERM between batches (exit 143). Result: burn.json in the job directory.
"""

import argparse
import json
import signal
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("cuda-burn: torch is not installed", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("cuda-burn: no CUDA device", file=sys.stderr)
        return 2
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    dtype = getattr(torch, args.dtype)
    a = torch.randn(args.size, args.size, device="cuda", dtype=dtype)
    b = torch.randn(args.size, args.size, device="cuda", dtype=dtype)
    torch.cuda.synchronize()
    start, multiplies = time.monotonic(), 0
    while time.monotonic() - start < args.seconds and not stopping:
        for _ in range(10):
            a = torch.mm(a, b).clamp_(-1.0, 1.0)
        torch.cuda.synchronize()
        multiplies += 10
    elapsed = time.monotonic() - start
    tflops = 2 * args.size**3 * multiplies / elapsed / 1e12
    result = {
        "seconds": elapsed,
        "multiplies": multiplies,
        "tflops": tflops,
        "device": torch.cuda.get_device_name(),
    }
    with open("burn.json", "w") as out:
        json.dump(result, out)
    print(f"{tflops:.1f} TFLOP/s over {elapsed:.1f} s", flush=True)
    return 143 if stopping else 0


if __name__ == "__main__":
    sys.exit(main())
