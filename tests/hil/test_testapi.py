"""The bench's pytest API, used as a bench test would use it (the `hil` fixture)."""

import pytest


def test_command_and_telemetry(hil):
    hil.send_command("PING")
    hil.await_telemetry("PING_REPORT")
    hk = hil.await_telemetry("HOUSEKEEPING", {"tc_accepted": 1})
    assert hk.values["frames_bad"] == 0


def test_rejection_with_its_failure_code(hil):
    hil.assert_command_rejected(
        "SUBMIT_JOB", {"manifest": {"id": "x", "command": ["/bin/sh"]}}, failure="MANIFEST_INVALID"
    )
    hk = hil.await_telemetry(where=lambda t: t.values["manifests_rejected"] == 1)
    assert hk.values["tc_rejected"] == 1


def test_deadlines_are_bus_seconds(hil):
    start = hil.bus_time
    with pytest.raises(AssertionError, match="within 50 bus seconds"):
        hil.await_event("JOB_COMPLETED", within_s=50)
    assert 50 <= hil.bus_time - start <= 52


def test_lockstep_time_stands_still_between_calls(hil):
    import time

    before = hil.bus_time
    time.sleep(0.3)  # test code being slow
    assert hil.bus_time == before


def test_a_job_runs_to_its_event(hil):
    hil.send_command(
        "SUBMIT_JOB",
        {"manifest": {"id": "api-1", "command": ["hash-chain", "--iterations", "1000"]}},
    )
    started = hil.await_event("JOB_STARTED", {"job_id": "api-1"}, within_s=100_000)
    event = hil.await_event("JOB_COMPLETED", {"job_id": "api-1"}, within_s=100_000)
    # the run time it reports is the bus time between its start and its completion
    elapsed = event.packet.time - started.packet.time
    assert abs(event.values["runtime_s"] - elapsed) <= 1.0, (event.values, elapsed)


def test_a_file_uploaded_through_the_station_becomes_a_job_input(hil, tmp_path):
    data = bytes(range(256)) * 300
    (tmp_path / "weights.bin").write_bytes(data)
    seq = hil.upload(tmp_path / "weights.bin", "inputs/weights.bin")
    hil.await_event("FILE_RECEIVED", {"seq_num": seq, "name": "inputs/weights.bin"}, within_s=60)
    assert (hil.config.out_dir / "state" / "files" / "inputs" / "weights.bin").read_bytes() == data
    manifest = {
        "id": "uses-input",
        "command": ["hash-chain", "--iterations", "10"],
        "inputs": ["inputs/weights.bin"],
    }
    hil.send_command("SUBMIT_JOB", {"manifest": manifest})
