"""The NVML backend against a fake of the NVML library's functions (the real nvidia-ml-py module,
its constants and error classes, with each NVML function answered by a simulated H100)."""

import pytest

from flight.gpu.backend import (
    REASON_SW_POWER_CAP,
    XID_DOUBLE_BIT_ECC,
    GpuError,
    GpuLost,
    GpuPermissionError,
)
from flight.gpu.nvml import NvmlGpu
from flight.gpu.simulated import SimulatedH100


@pytest.fixture
def card():
    return SimulatedH100()


@pytest.fixture
def backend(fake_nvml):
    def open_backend(monkeypatch, card, root=True):
        fake = fake_nvml(card, root)
        return NvmlGpu(0), fake

    return open_backend


def test_reads_everything_in_the_units_of_the_interface(monkeypatch, card, backend):
    gpu, _ = backend(monkeypatch, card)
    card.set_power_limit(300)
    for _ in range(30):
        card.step(1.0, -20.0, 1.0)
    r = gpu.read()
    assert r.power_w == pytest.approx(300.0) and r.power_limit_w == 300.0
    assert (r.limit_min_w, r.limit_max_w, r.slowdown_c, r.shutdown_c) == (200, 700, 87, 92)
    assert r.clock_event_reasons & REASON_SW_POWER_CAP and r.utilization_pct == 100
    assert r.memory_total_mib == 81_559 and r.sm_clock_mhz > 345


def test_sets_the_power_limit_as_root(monkeypatch, card, backend):
    gpu, _ = backend(monkeypatch, card, root=True)
    gpu.set_power_limit(450.5)
    assert card.power_limit_w == 450.5
    with pytest.raises(GpuError, match="outside 200-700 W"):
        gpu.set_power_limit(150)


def test_says_so_in_words_when_not_root(monkeypatch, card, backend):
    gpu, _ = backend(monkeypatch, card, root=False)
    with pytest.raises(GpuPermissionError, match="needs root"):
        gpu.set_power_limit(300)
    assert card.power_limit_w == 700.0


def test_ecc_errors_remapped_rows_and_xid_events(monkeypatch, card, backend):
    gpu, _ = backend(monkeypatch, card)
    card.inject("ecc_corrected", 3)
    card.inject("ecc_uncorrected")
    r = gpu.read()
    assert (r.ecc_corrected, r.ecc_uncorrected, r.remapped_rows) == (3, 1, 1)
    assert XID_DOUBLE_BIT_ECC in r.xids
    assert gpu.read().xids == ()


def test_a_lost_gpu(monkeypatch, card, backend):
    gpu, _ = backend(monkeypatch, card)
    card.inject("lost")
    with pytest.raises(GpuLost):
        gpu.read()
    with pytest.raises(GpuLost):
        gpu.set_power_limit(300)


def test_close_releases_nvml(monkeypatch, card, backend):
    gpu, fake = backend(monkeypatch, card)
    gpu.close()
    assert fake.calls == ["init", "free", "shutdown"]


def test_locks_and_resets_clocks_as_root(monkeypatch, card, backend):
    gpu, _ = backend(monkeypatch, card, root=True)
    gpu.lock_clocks(1000, 1200)
    card.step(1.0, -20.0, 1.0)
    assert gpu.read().sm_clock_mhz == 1200
    with pytest.raises(GpuError, match="locking the GPU clocks"):
        gpu.lock_clocks(100, 5000)
    gpu.reset_clocks()
    assert gpu.read().sm_clock_mhz == card.model.max_clock_mhz


def test_clock_locking_without_root_is_refused_in_words(monkeypatch, card, backend):
    gpu, _ = backend(monkeypatch, card, root=False)
    with pytest.raises(GpuPermissionError, match="locking the GPU clocks needs root"):
        gpu.lock_clocks(1000, 1200)
    with pytest.raises(GpuPermissionError, match="resetting the GPU clocks needs root"):
        gpu.reset_clocks()


def test_after_a_power_cycle_nvml_is_started_afresh(monkeypatch, card, backend):
    gpu, fake = backend(monkeypatch, card)
    card.inject("lost")
    with pytest.raises(GpuLost):
        gpu.read()
    gpu.power_off()
    card.power_restored()
    gpu.power_restored()
    assert fake.calls == ["init", "free", "shutdown", "init"]
    assert gpu.read().power_limit_w == 700.0 and gpu.name == card.name
