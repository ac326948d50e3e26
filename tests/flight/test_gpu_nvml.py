"""The NVML backend against a fake of the NVML library's functions (the real nvidia-ml-py module,
its constants and error classes, with each NVML function answered by a simulated H100)."""

from types import SimpleNamespace

import pynvml
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


class FakeNvml:
    """NVML's functions, answered from a simulated card; root or not."""

    def __init__(self, card: SimulatedH100, root: bool) -> None:
        self.card, self.root = card, root
        self.calls: list[str] = []
        self.pending_xids: list[int] = []

    def install(self, monkeypatch) -> None:
        for name in dir(self):
            if name.startswith("nvml"):
                monkeypatch.setattr(pynvml, name, getattr(self, name))

    def _r(self):
        try:
            r = self.card.read()
        except GpuLost:
            raise pynvml.NVMLError_GpuIsLost() from None
        self.pending_xids += r.xids
        return r

    def nvmlInit(self):
        self.calls.append("init")

    def nvmlShutdown(self):
        self.calls.append("shutdown")

    def nvmlDeviceGetHandleByIndex(self, index):
        if index != 0:
            raise pynvml.NVMLError_InvalidArgument()
        return "gpu0"

    def nvmlDeviceGetTemperatureThreshold(self, handle, kind):
        m = self.card.model
        return {
            pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN: int(m.slowdown_c),
            pynvml.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN: int(m.shutdown_c),
        }[kind]

    def nvmlEventSetCreate(self):
        return "events"

    def nvmlDeviceRegisterEvents(self, handle, types, events):
        assert types == pynvml.nvmlEventTypeXidCriticalError

    def nvmlEventSetFree(self, events):
        self.calls.append("free")

    def nvmlEventSetWait_v2(self, events, timeout_ms):
        assert timeout_ms == 0  # the controller never blocks on events
        if not self.pending_xids:
            raise pynvml.NVMLError_Timeout()
        return SimpleNamespace(
            eventData=self.pending_xids.pop(0), eventType=pynvml.nvmlEventTypeXidCriticalError
        )

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle):
        m = self.card.model
        return [int(m.limit_min_w * 1000), int(m.limit_max_w * 1000)]

    def nvmlDeviceSetPowerManagementLimit(self, handle, milliwatts):
        if not self.root:
            raise pynvml.NVMLError_NoPermission()
        self.card.set_power_limit(milliwatts / 1000)

    def nvmlDeviceGetPowerUsage(self, handle):
        return int(self._r().power_w * 1000)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return int(self._r().power_limit_w * 1000)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return int(self._r().temperature_c)

    def nvmlDeviceGetClockInfo(self, handle, clock):
        assert clock == pynvml.NVML_CLOCK_SM
        return self._r().sm_clock_mhz

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self._r().clock_event_reasons

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=self._r().utilization_pct, memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle):
        r = self._r()
        return SimpleNamespace(
            used=r.memory_used_mib << 20,
            total=r.memory_total_mib << 20,
            free=(r.memory_total_mib - r.memory_used_mib) << 20,
        )

    def nvmlDeviceGetTotalEccErrors(self, handle, kind, counter):
        assert counter == pynvml.NVML_VOLATILE_ECC
        r = self._r()
        return (
            r.ecc_corrected
            if kind == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED
            else r.ecc_uncorrected
        )

    def nvmlDeviceGetName(self, handle):
        return self.card.name

    def nvmlDeviceSetGpuLockedClocks(self, handle, min_mhz, max_mhz):
        if not self.root:
            raise pynvml.NVMLError_NoPermission()
        try:
            self.card.lock_clocks(min_mhz, max_mhz)
        except GpuLost:
            raise pynvml.NVMLError_GpuIsLost() from None
        except GpuError:
            raise pynvml.NVMLError_InvalidArgument() from None

    def nvmlDeviceResetGpuLockedClocks(self, handle):
        if not self.root:
            raise pynvml.NVMLError_NoPermission()
        self.card.reset_clocks()

    def nvmlDeviceGetRemappedRows(self, handle):
        r = self._r()
        return (0, r.remapped_rows, 0, 0)


@pytest.fixture
def card():
    return SimulatedH100()


def backend(monkeypatch, card, root=True):
    fake = FakeNvml(card, root)
    fake.install(monkeypatch)
    return NvmlGpu(0), fake


def test_reads_everything_in_the_units_of_the_interface(monkeypatch, card):
    gpu, _ = backend(monkeypatch, card)
    card.set_power_limit(300)
    for _ in range(30):
        card.step(1.0, -20.0, 1.0)
    r = gpu.read()
    assert r.power_w == pytest.approx(300.0) and r.power_limit_w == 300.0
    assert (r.limit_min_w, r.limit_max_w, r.slowdown_c, r.shutdown_c) == (200, 700, 87, 92)
    assert r.clock_event_reasons & REASON_SW_POWER_CAP and r.utilization_pct == 100
    assert r.memory_total_mib == 81_559 and r.sm_clock_mhz > 345


def test_sets_the_power_limit_as_root(monkeypatch, card):
    gpu, _ = backend(monkeypatch, card, root=True)
    gpu.set_power_limit(450.5)
    assert card.power_limit_w == 450.5
    with pytest.raises(GpuError, match="outside 200-700 W"):
        gpu.set_power_limit(150)


def test_says_so_in_words_when_not_root(monkeypatch, card):
    gpu, _ = backend(monkeypatch, card, root=False)
    with pytest.raises(GpuPermissionError, match="needs root"):
        gpu.set_power_limit(300)
    assert card.power_limit_w == 700.0


def test_ecc_errors_remapped_rows_and_xid_events(monkeypatch, card):
    gpu, _ = backend(monkeypatch, card)
    card.inject("ecc_corrected", 3)
    card.inject("ecc_uncorrected")
    r = gpu.read()
    assert (r.ecc_corrected, r.ecc_uncorrected, r.remapped_rows) == (3, 1, 1)
    assert XID_DOUBLE_BIT_ECC in r.xids
    assert gpu.read().xids == ()


def test_a_lost_gpu(monkeypatch, card):
    gpu, _ = backend(monkeypatch, card)
    card.inject("lost")
    with pytest.raises(GpuLost):
        gpu.read()
    with pytest.raises(GpuLost):
        gpu.set_power_limit(300)


def test_close_releases_nvml(monkeypatch, card):
    gpu, fake = backend(monkeypatch, card)
    gpu.close()
    assert fake.calls == ["init", "free", "shutdown"]


def test_locks_and_resets_clocks_as_root(monkeypatch, card):
    gpu, _ = backend(monkeypatch, card, root=True)
    gpu.lock_clocks(1000, 1200)
    card.step(1.0, -20.0, 1.0)
    assert gpu.read().sm_clock_mhz == 1200
    with pytest.raises(GpuError, match="locking the GPU clocks"):
        gpu.lock_clocks(100, 5000)
    gpu.reset_clocks()
    assert gpu.read().sm_clock_mhz == card.model.max_clock_mhz


def test_clock_locking_without_root_is_refused_in_words(monkeypatch, card):
    gpu, _ = backend(monkeypatch, card, root=False)
    with pytest.raises(GpuPermissionError, match="locking the GPU clocks needs root"):
        gpu.lock_clocks(1000, 1200)
    with pytest.raises(GpuPermissionError, match="resetting the GPU clocks needs root"):
        gpu.reset_clocks()


def test_after_a_power_cycle_nvml_is_started_afresh(monkeypatch, card):
    gpu, fake = backend(monkeypatch, card)
    card.inject("lost")
    with pytest.raises(GpuLost):
        gpu.read()
    card.power_restored()
    gpu.power_restored()
    assert fake.calls == ["init", "free", "shutdown", "init"]
    assert gpu.read().power_limit_w == 700.0 and gpu.name == card.name
