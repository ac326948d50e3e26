"""The GPU backend named on a command line (``--gpu``): opened for the controller and for the
self-test alike."""

from __future__ import annotations

import logging

from flight.gpu.backend import GpuBackend
from flight.gpu.simulated import SimulatedH100

GPU_KINDS = ("auto", "nvml", "simulated", "none")


def open_gpu(kind: str) -> tuple[GpuBackend | None, str]:
    """The backend asked for; with auto, NVML if it answers, else none."""
    if kind == "simulated":
        return SimulatedH100(), kind
    if kind == "none":
        return None, kind
    try:
        from flight.gpu.nvml import NvmlGpu

        return NvmlGpu(0), "nvml"
    except Exception as exc:  # NVML raises its own error types, or the library is missing
        if kind == "nvml":
            raise SystemExit(f"flight: no NVIDIA GPU through NVML: {exc}") from None
        logging.getLogger("flight").info("no GPU through NVML (%s): running without one", exc)
        return None, "none"
