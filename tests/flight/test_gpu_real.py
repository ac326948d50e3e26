"""End to end on a real NVIDIA GPU (marked gpu; skipped where NVML finds none): read everything,
cap the power, run the CUDA sample job under the cap, restore the limit. Setting limits needs
root; without it the test checks that the refusal is a GpuPermissionError in words."""

import os
import re
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

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


GPT = ["train", "--text", "corpus.txt", "--device", "cuda", "--layers", "4", "--heads", "4",
       "--embd", "256", "--block", "128", "--batch", "32", "--eval-every", "100",
       "--eval-batches", "4", "--sample-chars", "200", "--steps", "600"]  # fmt: skip


def gpt(gpu, tmp_path, name: str, readings: list, **env: str) -> str:
    """The GPT sample job on CUDA in ``tmp_path/name``, the GPU read every half second while it
    runs (into ``readings``); what it printed."""
    work = tmp_path / name
    work.mkdir()
    script = resources.files("hil").joinpath("sample_jobs", "char_gpt.py")
    variables = {"JOB_CHECKPOINT_DIR": str(work / "ck"), "JOB_INPUT_DIR": str(tmp_path)}
    with open(work / "stdout.log", "w") as out, open(work / "stderr.log", "w") as err:
        argv, env = [sys.executable, str(script), *GPT], os.environ | variables | env
        job = subprocess.Popen(argv, cwd=work, env=env, stdout=out, stderr=err)
        while job.poll() is None:
            time.sleep(0.5)  # the sampling period of the readings
            readings.append(gpu.read())
    assert job.returncode == 0, (work / "stderr.log").read_text()
    return (work / "stdout.log").read_text()


def test_the_gpt_trains_on_cuda_under_a_cap_and_resumes_within_tolerance(gpu, tmp_path):
    """Issue 24 on a real card: the GPT sample on CUDA under a power cap set through the
    backend the governor uses (as root), its tokens/s, power, temperature and whether the cap
    held; then a run stopped at step 300 and resumed ends within 1e-5 of one never stopped (the
    stated CUDA tolerance; deterministic kernels are asked for). Prints its figures for
    docs/gpu.md (pytest -s)."""
    import torch  # the test extra's (the [ai] extra)
    from safetensors.torch import load_file

    docs = Path(__file__).resolve().parents[2] / "docs"
    (tmp_path / "corpus.txt").write_text("".join(p.read_text() for p in sorted(docs.glob("*.md"))))
    before = gpu.read()
    cap = max(before.limit_min_w, 0.6 * before.limit_max_w) if os.geteuid() == 0 else None
    if cap is not None:
        gpu.set_power_limit(cap)
    readings: list = []
    try:
        straight = gpt(gpu, tmp_path, "straight", readings)
        gpt(gpu, tmp_path, "first", readings, JOB_REPLAY_TO="step-0000300.safetensors")
        start = tmp_path / "first" / "ck" / "step-0000300.safetensors"
        gpt(gpu, tmp_path, "resumed", readings, JOB_RESUME=str(start))
    finally:
        if cap is not None:
            gpu.set_power_limit(before.power_limit_w)
    rate = re.search(r"(\d+) tokens/s", straight).group(1)
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    worst = max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
    same = all(torch.equal(a[k], b[k]) for k in a)
    loaded = [r for r in readings if r.utilization_pct > 50]
    assert loaded, "the GPT never loaded the GPU"
    held = cap is None or (
        all(r.power_limit_w == pytest.approx(cap, abs=1) for r in readings)
        and max(r.power_w for r in loaded) <= cap * 1.05
    )
    print(
        f"\nGPT on {gpu.name}: {rate} tokens/s; cap {cap} W held: {held}; power "
        f"{max(r.power_w for r in loaded):.0f} W max under load; temperature "
        f"{max(r.temperature_c for r in readings):.0f} C max; resumed run: bit-identical {same},"
        f" largest weight difference {worst:.3g}"
    )
    assert held and worst <= 1e-5
