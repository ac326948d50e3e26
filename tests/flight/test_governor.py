"""The governor's decisions on constructed bus states and GPU readings: the limit follows the
allowance down at once and up past the hysteresis band, suspension below the GPU's minimum and
resumption only with a margin, the thermal cap from the sink temperature and the measured
temperature, checkpointing ahead of an eclipse the GPU cannot run through, and the GPU's supply."""

from dataclasses import replace

import pytest

from flight.dictionary import NONE_AHEAD, GovernorMode
from flight.governor import BusState, Governor, GovernorConfig
from flight.gpu.backend import GpuReading

M = GovernorMode
IDLE = GpuReading(
    power_w=70.0,
    power_limit_w=700.0,
    limit_min_w=200.0,
    limit_max_w=700.0,
    temperature_c=40.0,
    slowdown_c=87.0,
    shutdown_c=92.0,
    sm_clock_mhz=1980,
    clock_event_reasons=0,
    utilization_pct=0,
    memory_used_mib=0,
    memory_total_mib=81_559,
    ecc_corrected=0,
    ecc_uncorrected=0,
    remapped_rows=0,
)


def bus(allowance: float, sink: float = -60.0, sunlit: bool = True, **kw) -> BusState:
    return BusState(
        allowance, sink, sunlit, kw.get("eclipse_in_s", NONE_AHEAD), kw.get("eclipse_s", 0)
    )


def test_the_limit_follows_the_allowance_down_at_once_and_up_past_the_band():
    g = Governor()
    first = g.control(bus(500), IDLE, None)
    assert (first.mode, first.limit_w, first.may_run) == (M.POWER_LIMITED, 500, True)
    assert g.control(bus(400), IDLE, None).limit_w == 400  # down: at once
    steady = g.control(bus(409), IDLE, None)
    assert steady.limit_w is None and g.limit_w == 400  # up by less than 10 W: held
    assert g.control(bus(411), IDLE, None).limit_w == 411  # past the band: follows
    assert g.control(bus(380), IDLE, None).limit_w == 380
    top = g.control(bus(2000), IDLE, None)
    assert (top.mode, top.limit_w) == (M.NOMINAL, 700)  # never above the GPU's maximum


def test_the_computers_own_draw_comes_off_the_budget():
    g = Governor(GovernorConfig.shipped(overhead_w=50.0))
    assert g.control(bus(500), IDLE, None).limit_w == 450


def test_below_the_minimum_the_job_is_suspended_and_resumes_only_with_a_margin():
    g = Governor()
    g.control(bus(500), IDLE, None)
    low = g.control(bus(150), IDLE, None)
    assert (low.mode, low.limit_w, low.may_run) == (M.SUSPENDED, 200, False)
    assert "budget 150 W below the GPU's minimum 200 W" in low.reason
    still = g.control(bus(205), IDLE, None)  # above the minimum, inside the resume margin
    assert (still.mode, still.may_run) == (M.SUSPENDED, False)
    back = g.control(bus(215), IDLE, None)
    assert (back.mode, back.limit_w, back.may_run) == (M.POWER_LIMITED, 215, True)
    assert g.control(bus(205), IDLE, None).may_run  # running again: no margin needed to stay


def test_the_thermal_cap_comes_from_the_sink_and_tightens_with_the_temperature():
    g = Governor()
    # target 87 - 5 = 82 C; at a 20 C sink the design resistance allows (82 - 20) / 0.15 W
    at_target = replace(IDLE, temperature_c=82.0)
    decision = g.control(bus(600, sink=20.0), at_target, None)
    assert decision.mode is M.THERMAL_LIMITED
    assert decision.limit_w == pytest.approx(62 / 0.15)
    hotter = replace(IDLE, temperature_c=84.0)  # 2 C over the target: 25 W a degree off
    assert g.control(bus(600, sink=20.0), hotter, None).limit_w == pytest.approx(62 / 0.15 - 50)
    assert g.thermal_cap_w(bus(600, sink=20.0), replace(IDLE, temperature_c=60.0)) == (
        pytest.approx(62 / 0.15)
    )  # below the target: no correction


def test_a_thermal_cap_below_the_minimum_suspends():
    g = Governor()
    roasting = replace(IDLE, temperature_c=90.0)
    decision = g.control(bus(700, sink=60.0), roasting, None)
    assert (decision.mode, decision.may_run) == (M.SUSPENDED, False)
    assert decision.reason.startswith("thermal cap")


def test_a_job_is_checkpointed_before_an_eclipse_the_gpu_cannot_run_through():
    g = Governor()
    # learn what an eclipse allows: 120 W, below the 200 W minimum
    for allowance in (130, 120, 125):
        g.control(bus(allowance, sunlit=False), IDLE, 10.0)
    g.control(bus(500), IDLE, 10.0)
    assert g.eclipse_allowance_w == 120 and g.eclipse_stops_gpu(IDLE)
    # the job's checkpoint cost, and the lead
    lead = 10.0 + GovernorConfig.shipped().checkpoint_lead_s
    early = g.control(bus(500, eclipse_in_s=int(lead) + 1), IDLE, 10.0)
    assert early.may_run
    ahead = g.control(bus(500, eclipse_in_s=int(lead)), IDLE, 10.0)
    assert (ahead.mode, ahead.may_run) == (M.SUSPENDED, False) and "eclipse in 15 s" in ahead.reason
    assert g.control(bus(500, eclipse_in_s=int(lead)), IDLE, None).may_run  # nothing to save
    blind = Governor(GovernorConfig.shipped(eclipse_predictions=False))
    assert blind.control(bus(500, eclipse_in_s=5), IDLE, 10.0).may_run


def test_an_eclipse_that_still_carries_the_gpu_stops_nothing():
    g = Governor()
    g.control(bus(400, sunlit=False), IDLE, 10.0)
    g.control(bus(500), IDLE, 10.0)
    assert not g.eclipse_stops_gpu(IDLE)
    assert g.control(bus(500, eclipse_in_s=3), IDLE, 10.0).may_run
    assert Governor().eclipse_stops_gpu(IDLE)  # no eclipse seen yet: assume the worst


def test_the_gpu_supply_is_wanted_for_work_and_budget_only():
    g = Governor()
    assert g.power_wanted(bus(100), powered=True, job_running=False, jobs_waiting=True)
    assert not g.power_wanted(bus(60), powered=True, job_running=False, jobs_waiting=True)
    assert g.power_wanted(bus(60), powered=True, job_running=True, jobs_waiting=False)
    assert not g.power_wanted(bus(205), powered=False, job_running=False, jobs_waiting=True)
    assert g.power_wanted(bus(210), powered=False, job_running=False, jobs_waiting=True)
    assert not g.power_wanted(bus(900), powered=False, job_running=False, jobs_waiting=False)


def test_no_gpu_off_safe_and_a_power_cycle():
    g = Governor()
    assert g.control(bus(500), None, None).mode is M.NO_GPU
    assert g.control(bus(500), IDLE, None).limit_w == 500
    assert (g.off().mode, g.off().may_run, g.limit_w) == (M.GPU_OFF, False, None)
    held = g.safe_mode(IDLE, "safe mode: by command")
    assert (held.mode, held.limit_w, held.may_run) == (M.SAFE, 200, False)
    g.forget_limit()
    assert g.control(bus(500), IDLE, None).limit_w == 500  # set again after a power cycle
