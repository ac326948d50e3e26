"""The controller with a GPU, in lockstep over a real pty: housekeeping, the governor's power
limit against the allowance, suspension and resumption, the thermal cap, GPU faults injected
through the simulated GPU's fault channel, and a GPU whose limits the controller may not set."""

import pytest

from flight import dictionary as d
from flight.dictionary import GovernorMode, GpuControl, JobState
from flight.gpu.fault_channel import send_fault
from flight.gpu.nvml import NvmlGpu
from flight.gpu.simulated import SimulatedH100


def events(tms):
    return [(t.name, t.values) for t in tms if t.event is not None]


def names(tms):
    return [n for n, _ in events(tms)]


def sim_job(payload, job_id, work_s, **manifest):
    tms = payload.command(
        "SUBMIT_JOB", {"manifest": {"id": job_id, "simulated": {"work_s": work_s}} | manifest}
    )
    assert "JOB_QUEUED" in [t.name for t in tms], [t.values for t in tms]


def test_housekeeping_carries_the_gpu(sim_payload):
    hk = sim_payload.tick(allowance=400.0)[-1].values
    assert hk["gpu_limit_w"] == 400.0
    assert hk["gpu_power_w"] == 70.0 and hk["payload_power_w"] == 70.0
    assert hk["gpu_slowdown_c"] == 87.0 and hk["gpu_control"] == GpuControl.FULL
    assert hk["gpu_valid"] == 1
    assert hk["governor_mode"] == GovernorMode.POWER_LIMITED


def test_limit_follows_the_allowance_down_at_once_and_up_past_hysteresis(sim_payload):
    p = sim_payload
    assert p.tick(allowance=600.0)[-1].values["gpu_limit_w"] == 600.0
    assert p.tick(allowance=420.0)[-1].values["gpu_limit_w"] == 420.0  # same second
    assert p.tick(allowance=425.0)[-1].values["gpu_limit_w"] == 420.0  # within hysteresis
    assert p.tick(allowance=431.0)[-1].values["gpu_limit_w"] == 431.0
    hk = p.tick(allowance=900.0)[-1].values  # at a -20 C sink, 700 W would settle at 85 C
    assert hk["gpu_limit_w"] == 680.0 and hk["governor_mode"] == GovernorMode.THERMAL_LIMITED
    hk = p.tick(allowance=900.0, sink_temp_c=-40.0)[-1].values
    assert hk["gpu_limit_w"] == 700.0 and hk["governor_mode"] == GovernorMode.NOMINAL


def test_simulated_job_does_its_work_under_the_limit(sim_payload):
    p = sim_payload
    sim_job(p, "w", 60)
    p.tick(allowance=720.0, sink_temp_c=-40.0)
    powers = []
    for _ in range(80):
        tms = p.tick(allowance=720.0, sink_temp_c=-40.0)
        powers.append(tms[-1].values["gpu_power_w"])
        if "JOB_COMPLETED" in names(tms):
            break
    assert p.ctl.runner.jobs["w"].state is JobState.COMPLETED
    assert max(powers) == pytest.approx(700.0)
    assert 60 <= p.ctl.runner.jobs["w"].rec.run_s <= 62


def test_too_little_power_checkpoints_and_suspends_then_resumes(sim_payload):
    p = sim_payload
    sim_job(p, "s", 600, checkpoint={"interval_s": 100, "cost_s": 3})
    p.tick(allowance=500.0)
    for _ in range(20):
        p.tick(allowance=500.0)
    tms = p.tick(allowance=150.0)  # 150 W < the 200 W minimum
    assert (
        "GOVERNOR_MODE",
        {"mode": GovernorMode.SUSPENDED, "reason": "budget 150 W below the GPU's minimum 200 W"},
    ) in events(tms)
    assert tms[-1].values["gpu_limit_w"] == 200.0
    seen = []
    for _ in range(5):
        seen += names(p.tick(allowance=150.0))
    assert seen[:2] == ["JOB_CHECKPOINTED", "JOB_SUSPENDED"]
    job = p.ctl.runner.jobs["s"]
    assert job.state is JobState.QUEUED and job.rec.checkpoint_work == pytest.approx(
        job.rec.work_done
    )
    assert names(p.tick(allowance=205.0)) == []  # not yet: 10 W of margin to resume
    tms = p.tick(allowance=240.0)
    assert names(tms)[:3] == ["GOVERNOR_MODE", "JOB_STARTED", "JOB_RESUMED"]


def test_a_hot_radiator_is_met_with_the_thermal_cap(sim_payload):
    p = sim_payload
    sim_job(p, "hot", 100_000, time_limit_s=200_000)
    modes, temps = set(), []
    for _ in range(1500):
        hk = p.tick(allowance=900.0, sink_temp_c=20.0)[-1].values
        modes.add(hk["governor_mode"])
        temps.append(hk["gpu_temp_c"])
    assert GovernorMode.THERMAL_LIMITED in modes
    assert max(temps) < 87.0 and max(temps) > 80.0  # worked hard, never slowed down
    assert p.ctl.gpu.reading.clock_event_reasons & 0x20 == 0


def test_uncorrectable_ecc_makes_results_suspect_and_requeues(sim_payload):
    p = sim_payload
    sim_job(p, "e", 600, checkpoint={"interval_s": 10, "cost_s": 1})
    for _ in range(15):
        p.tick(allowance=720.0)
    send_fault(p.state_dir, {"fault": "ecc_uncorrected"})
    tms = p.tick(allowance=720.0)
    got = names(tms)
    assert got == [
        "GPU_XID",
        "GPU_ECC_UNCORRECTED",
        "JOB_RESULTS_SUSPECT",
        "JOB_REQUEUED",
        "JOB_STARTED",  # the row is remapped: it starts again from its last checkpoint
        "JOB_RESUMED",
    ]
    assert tms[-1].values["gpu_ecc_uncorrected"] == 1
    job = p.ctl.runner.jobs["e"]
    assert job.rec.suspect and job.rec.work_done == job.rec.checkpoint_work > 0


def test_a_lost_gpu_asks_for_a_power_cycle_and_recovers(sim_payload):
    p = sim_payload
    sim_job(p, "l", 600)
    for _ in range(5):
        p.tick(allowance=720.0)
    send_fault(p.state_dir, {"fault": "lost"})
    tms = p.tick(allowance=720.0)
    cycle = {"action": d.GpuPower.CYCLE, "reason": "the GPU has fallen off the bus (Xid 79)"}
    assert ("GPU_POWER_REQUEST", cycle) in events(tms)
    assert tms[-1].values["governor_mode"] == GovernorMode.SAFE
    for _ in range(3):
        assert "GPU_POWER_REQUEST" not in names(p.tick(allowance=720.0))  # asked once
    assert p.ctl.runner.jobs["l"].state is JobState.QUEUED
    p.command("GPU_POWER_STATE", {"on": 0}, source=d.SOURCE_BUS, ack=0)
    assert p.tick(allowance=720.0)[-1].values["governor_mode"] == GovernorMode.SAFE
    tms = p.command("GPU_POWER_STATE", {"on": 1}, source=d.SOURCE_BUS, ack=0)
    assert names(tms) == ["GPU_RECOVERED"]
    assert "JOB_STARTED" in names(p.tick(allowance=720.0))
    assert p.ctl.runner.jobs["l"].state is JobState.RUNNING


def test_gpu_is_switched_off_when_even_idle_is_too_much_and_on_for_work(sim_payload):
    p = sim_payload
    tms = p.tick(allowance=40.0)  # an idle H100 draws 70 W
    off = {"action": d.GpuPower.OFF, "reason": "allowance 40 W: not enough for an idle GPU"}
    assert ("GPU_POWER_REQUEST", off) in events(tms)
    p.command("GPU_POWER_STATE", {"on": 0}, source=d.SOURCE_BUS, ack=0)
    hk = p.tick(allowance=40.0)[-1].values
    assert hk["governor_mode"] == GovernorMode.GPU_OFF and hk["gpu_valid"] == 0
    off_fields = [f.name for f in d.HK_FIELDS if f.valid_when == "gpu_valid"]
    assert {hk[name] for name in off_fields} == {None}  # not valid: no number, not 0.0
    assert hk["payload_power_w"] == p.ctl.governor.config.overhead_w  # the GPU draws nothing
    assert "GPU_POWER_REQUEST" not in names(p.tick(allowance=500.0))  # no work: stays off
    sim_job(p, "later", 30)
    on = {"action": d.GpuPower.ON, "reason": "allowance 500 W: jobs can run"}
    assert ("GPU_POWER_REQUEST", on) in events(p.tick(allowance=500.0))
    p.command("GPU_POWER_STATE", {"on": 1}, source=d.SOURCE_BUS, ack=0)
    assert "JOB_STARTED" in names(p.tick(allowance=500.0))


def test_a_garbled_fault_message_is_ignored_and_counted(sim_payload):
    import socket

    from flight.gpu.fault_channel import address

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"\xc1not msgpack", address(sim_payload.state_dir))
    send_fault(sim_payload.state_dir, {"fault": "meltdown"})
    assert sim_payload.tick()[-1].values["ticks"] == 1
    assert sim_payload.ctl.faults.bad == 2


def test_without_root_the_limit_is_not_set_and_that_is_said(tmp_path, fake_nvml):
    from tests.flight.conftest import PayloadHarness

    card = SimulatedH100()
    fake_nvml(card, root=False)
    p = PayloadHarness(tmp_path / "state", gpu=NvmlGpu(0), gpu_kind="nvml")
    try:
        tms = p.tick(allowance=300.0)
        denied = [v for n, v in events(tms) if n == "GPU_PERMISSION_DENIED"]
        assert denied and "needs root" in denied[0]["reason"]
        assert tms[-1].values["gpu_control"] == GpuControl.DENIED
        assert card.power_limit_w == 700.0
        tms = p.tick(allowance=250.0)
        assert "GPU_PERMISSION_DENIED" not in names(tms)  # said once, kept in housekeeping
        assert tms[-1].values["gpu_control"] == GpuControl.DENIED
        code = [
            t
            for t in p.command("SUBMIT_JOB", {"manifest": {"id": "x", "simulated": {"work_s": 1}}})
            if t.name == "ACCEPTANCE_FAILURE"
        ]
        assert code and code[0].values["code"] == d.FailureCode.MANIFEST_CONTRADICTORY
    finally:
        p.close()


def test_a_gpu_slowing_itself_down_is_told_once_then_throttled(sim_payload):
    """GPU_THROTTLED when the GPU starts protecting itself (not for the governor's own power cap);
    a second spell within 60 bus seconds goes down in EVENT_REPEATED."""
    p = sim_payload
    sim_job(p, "hot", 100_000, time_limit_s=200_000)
    seen: list[str] = []
    for _ in range(2):
        send_fault(p.state_dir, {"fault": "overheat"})
        seen += names(p.tick(allowance=900.0))
        assert p.ctl.gpu.reading.clock_event_reasons & 0x20  # slowing itself down
        for _ in range(30):  # the cap cools it below slowdown
            if not p.ctl.gpu.reading.clock_event_reasons & 0x20:
                break
            seen += names(p.tick(allowance=900.0))
    assert seen.count("GPU_THROTTLED") == 1 and p.ctl.reports.throttle.suppressed == 1
    later = [t.values for _ in range(61) for t in p.tick(allowance=900.0)]
    summaries = [v for v in later if v.get("event") == "GPU_THROTTLED"]
    assert [v["repeats"] for v in summaries] == [1]
