"""Safe mode in the real controller over a real pty, in lockstep: repeated GPU faults or crash
restarts put the payload in safe mode (jobs wait, the GPU at its lowest limit, commanding kept);
it survives a restart and only SAFE_MODE_EXIT ends it."""

from flight import dictionary as d
from flight.dictionary import GovernorMode, JobState
from flight.gpu.fault_channel import send_fault
from flight.safe_mode import SafeMode
from tests.flight.test_controller_gpu import names, sim_job

ALLOWANCE = 720.0


def hk(tms):
    return [t for t in tms if t.name == "HOUSEKEEPING"][-1].values


def test_faults_count_once_a_second_within_the_window(tmp_path):
    safe = SafeMode(tmp_path / "safe.json", threshold=3, window_s=100)
    assert not safe.unclean_start
    assert [safe.fault(t, "x") for t in (0, 0, 50, 151)] == [False, False, False, False]
    assert safe.recent(151) == 1  # 0 and 50 fell out of the window
    assert safe.fault(152, "x") is False and safe.fault(160, "GPU_XID") is True
    assert safe.active and safe.reason == "3 faults in 100 s, the last: GPU_XID"
    again = SafeMode(tmp_path / "safe.json", 3, 3600)  # not stopped: the next start is unclean
    assert again.active and again.unclean_start
    again.stopped()
    assert not SafeMode(tmp_path / "safe.json", 3, 3600).unclean_start


def test_repeated_gpu_faults_put_the_payload_in_safe_mode_until_the_ground_clears_it(sim_payload):
    p = sim_payload
    sim_job(p, "long", 3600, checkpoint={"interval_s": 10, "cost_s": 1})
    for _ in range(12):
        p.tick(allowance=ALLOWANCE)
    seen = []
    for _ in range(3):
        send_fault(p.state_dir, {"fault": "ecc_uncorrected"})
        tms = p.tick(allowance=ALLOWANCE)
        seen += names(tms)
        for _ in range(5):
            seen += names(p.tick(allowance=ALLOWANCE))
    assert seen.count("SAFE_MODE_ENTERED") == 1
    values = hk(p.tick(allowance=ALLOWANCE))
    assert (values["safe_mode"], values["faults_recent"]) == (1, 3)
    assert values["governor_mode"] == GovernorMode.SAFE
    assert values["gpu_limit_w"] == p.ctl.gpu.reading.limit_min_w
    assert p.ctl.runner.jobs["long"].state is JobState.QUEUED  # checkpointed and waiting
    sim_job(p, "new", 10)  # commanding is kept; nothing starts
    assert [t.name for t in p.command("PING")][1] == "PING_REPORT"
    for _ in range(5):
        assert "JOB_STARTED" not in names(p.tick(allowance=ALLOWANCE))
    stopping = p.restart(crash=False)  # a clean restart keeps safe mode and is not a fault
    # GPU_XID is throttled (60 s): the two after the first go down summed up, here at the stop
    repeated = [t.values for t in stopping if t.name == "EVENT_REPEATED"]
    assert [(r["event"], r["repeats"]) for r in repeated] == [("GPU_XID", 2)]
    tms = p.tick(allowance=ALLOWANCE)
    assert "UNCLEAN_START" not in names(tms) and hk(tms)["safe_mode"] == 1
    tms = p.command("SAFE_MODE_EXIT")
    assert [t.name for t in tms] == ["ACCEPTANCE_SUCCESS", "SAFE_MODE_EXITED", "COMPLETION_SUCCESS"]
    started = []
    for _ in range(3):
        started += names(p.tick(allowance=ALLOWANCE))
    assert "JOB_STARTED" in started and hk(p.tick(allowance=ALLOWANCE))["safe_mode"] == 0


def test_a_crash_loop_is_counted_and_ends_in_safe_mode(payload):
    payload.tick()
    seen = []
    for _ in range(3):
        payload.restart(crash=True)  # as after SIGKILL: no clean stop written
        seen += names(payload.tick())
    assert seen.count("UNCLEAN_START") == 3
    assert seen.index("SAFE_MODE_ENTERED") == len(seen) - 2  # then GOVERNOR_MODE: SAFE
    assert "UNCLEAN_START" in payload.ctl.safe.reason


def test_safe_mode_by_command_and_both_commands_idempotent(payload):
    payload.tick()
    assert names(payload.command("SAFE_MODE_ENTER")) == ["SAFE_MODE_ENTERED"]
    assert names(payload.command("SAFE_MODE_ENTER")) == []
    assert payload.ctl.safe.reason == "by command"
    assert names(payload.command("SAFE_MODE_EXIT")) == ["SAFE_MODE_EXITED"]
    assert names(payload.command("SAFE_MODE_EXIT")) == []
    assert d.COMMANDS_BY_NAME["SAFE_MODE_EXIT"].hazardous
