"""End to end on a real NVIDIA GPU (marked gpu; skipped where NVML finds none): read everything,
cap the power, run the CUDA sample job under the cap, restore the limit. Setting limits needs
root; without it the test checks that the refusal is a GpuPermissionError in words."""

import os
import subprocess
import sys
import time
from importlib import resources

import pynvml
import pytest

from flight.gpu.backend import GpuPermissionError

pytestmark = pytest.mark.gpu


@pytest.fixture
def gpu():
    pynvml = pytest.importorskip("pynvml")
    try:
        from flight.gpu.nvml import NvmlGpu

        backend = NvmlGpu(0)
    except pynvml.NVMLError as exc:
        pytest.skip(f"no NVIDIA GPU through NVML: {exc}")
    yield backend
    backend.close()


def test_reads_everything(gpu):
    r = gpu.read()
    assert gpu.name and 0 < r.limit_min_w <= r.power_limit_w <= r.limit_max_w
    assert 0 < r.power_w < 2 * r.limit_max_w and -40 < r.temperature_c < r.shutdown_c
    assert r.slowdown_c < r.shutdown_c and r.memory_total_mib > 0 and r.sm_clock_mhz > 0
    # the counters are NVML's own (volatile ECC, remapped rows), not a default
    assert r.ecc_uncorrected == pynvml.nvmlDeviceGetTotalEccErrors(
        gpu.handle, pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_VOLATILE_ECC
    )
    corrected, uncorrected, _, _ = pynvml.nvmlDeviceGetRemappedRows(gpu.handle)
    assert r.remapped_rows == corrected + uncorrected


def test_power_cap_holds_under_the_cuda_burn(gpu, tmp_path):
    before = gpu.read()
    cap = max(before.limit_min_w, 0.6 * before.limit_max_w)
    if os.geteuid() != 0:
        with pytest.raises(GpuPermissionError, match="needs root"):
            gpu.set_power_limit(cap)
        return
    pytest.importorskip("torch")
    script = resources.files("hil").joinpath("sample_jobs", "cuda_burn.py").read_text()
    job = tmp_path / "cuda_burn.py"
    job.write_text(script)
    gpu.set_power_limit(cap)
    try:
        burn = subprocess.Popen([sys.executable, str(job), "--seconds", "20"], cwd=tmp_path)
        readings = []
        while burn.poll() is None:
            time.sleep(0.5)
            readings.append(gpu.read())
        assert burn.returncode == 0
        loaded = [r for r in readings if r.utilization_pct > 50]
        assert loaded, "the burn never loaded the GPU"
        assert all(r.power_limit_w == pytest.approx(cap, abs=1) for r in readings)
        assert max(r.power_w for r in loaded) <= cap * 1.05  # NVML's cap, a short average
    finally:
        gpu.set_power_limit(before.power_limit_w)
    assert gpu.read().power_limit_w == pytest.approx(before.power_limit_w, abs=1)
