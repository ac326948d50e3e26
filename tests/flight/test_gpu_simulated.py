"""The simulated H100 against the brief's figures."""

import pytest

from flight.gpu.backend import (
    REASON_SW_POWER_CAP,
    REASON_SW_THERMAL,
    XID_DOUBLE_BIT_ECC,
    XID_FALLEN_OFF_BUS,
    GpuError,
    GpuLost,
)
from flight.gpu.simulated import H100Model, SimulatedH100


def run(gpu, seconds, sink, utilization):
    work = 0.0
    for _ in range(seconds):
        work += gpu.step(1.0, sink, utilization)
    return work


def test_idle_draws_about_70_watts_and_settles_near_the_sink():
    gpu = SimulatedH100()
    run(gpu, 2000, -20.0, 0.0)
    r = gpu.read()
    assert r.power_w == pytest.approx(70.0)
    assert r.temperature_c == pytest.approx(-20 + 70 * 0.15, abs=0.1)
    assert r.clock_event_reasons == 0 and r.utilization_pct == 0


def test_power_limit_range_and_cap():
    gpu = SimulatedH100()
    assert gpu.read().power_limit_w == 700.0
    for bad in (199.0, 701.0):
        with pytest.raises(GpuError, match="outside 200-700 W"):
            gpu.set_power_limit(bad)
    gpu.set_power_limit(300.0)
    work_capped = run(gpu, 10, -40.0, 1.0)
    r = gpu.read()
    assert r.power_w == pytest.approx(300.0) and r.clock_event_reasons & REASON_SW_POWER_CAP
    gpu.set_power_limit(700.0)
    work_full = run(gpu, 10, -40.0, 1.0)
    assert work_full == pytest.approx(10.0) and work_capped == pytest.approx(10 * 230 / 630)


def test_hot_sink_leads_to_thermal_slowdown_then_recovery():
    gpu = SimulatedH100(start_c=40.0)
    run(gpu, 1200, 10.0, 1.0)  # 10 + 700 x 0.15 = 115 C were it not throttled
    r = gpu.read()
    assert r.clock_event_reasons & REASON_SW_THERMAL
    assert r.temperature_c < 92.0 and r.power_w < 700.0  # slowdown kept it from shutdown
    run(gpu, 3000, -60.0, 1.0)
    assert gpu.read().clock_event_reasons & REASON_SW_THERMAL == 0


def test_a_card_that_cannot_shed_heat_falls_off_the_bus():
    gpu = SimulatedH100(H100Model(thermal_resistance_c_per_w=0.5, time_constant_s=30))
    run(gpu, 600, 60.0, 1.0)
    with pytest.raises(GpuLost):
        gpu.read()
    gpu.power_restored()
    assert gpu.read().xids == (XID_FALLEN_OFF_BUS,)


def test_injected_faults():
    gpu = SimulatedH100()
    gpu.inject("ecc_corrected", 5)
    gpu.inject("ecc_uncorrected")
    r = gpu.read()
    assert (r.ecc_corrected, r.ecc_uncorrected, r.remapped_rows) == (5, 1, 1)
    assert r.xids == (XID_DOUBLE_BIT_ECC,) and gpu.read().xids == ()
    gpu.inject("lost")
    with pytest.raises(GpuLost):
        gpu.set_power_limit(300)
    with pytest.raises(ValueError):
        gpu.inject("gremlins")


def test_radiation_background_of_corrected_errors():
    gpu = SimulatedH100(H100Model(corrected_ecc_per_hour=12.0))
    run(gpu, 3600, -20.0, 0.5)
    assert gpu.read().ecc_corrected == 12
