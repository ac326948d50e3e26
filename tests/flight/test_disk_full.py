"""A job that fills the disk does not take the controller down: the state directory on a small
tmpfs (mounting needs root; skipped without), a job that writes until ENOSPC; the controller goes
on answering, reports what it cannot record, and records it once there is room again."""

from flight.dictionary import JobState
from tests.flight.conftest import PayloadHarness


def names(tms):
    return [t.name for t in tms]


def test_a_job_filling_the_disk_never_takes_the_controller_down(small_disk):
    p = PayloadHarness(small_disk / "state")
    try:
        p.install_job("filler", "dd if=/dev/zero of=fill bs=65536 2>/dev/null\nexit 0\n")
        p.command("SUBMIT_JOB", {"manifest": {"id": "fill", "command": ["filler"]}})
        p.tick()
        p.wait_job_process("fill")
        seen = []
        for _ in range(5):
            tms = p.tick()
            assert names(tms)[-1] == "HOUSEKEEPING"
            seen += names(tms)
        assert names(p.command("PING"))[1] == "PING_REPORT"
        refused = p.command("SUBMIT_JOB", {"manifest": {"id": "more", "command": ["filler"]}})
        if "STORE_ERROR" in seen:  # nothing could be recorded: the job is still running
            assert "JOB_COMPLETED" not in seen
            assert "COMPLETION_FAILURE" in names(refused)
            (p.state_dir / "jobs" / "fill" / "fill").unlink()  # the operator makes room
            seen += names(p.tick())
        assert seen.count("JOB_COMPLETED") == 1, seen
        job = p.ctl.runner.jobs["fill"]
        assert job.state is JobState.COMPLETED and job.rec.failures == 0
    finally:
        p.close()


def fill(directory):
    """Write into a file until the disk is full; the file."""
    path = directory / "filler"
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(bytes(65536))
        except OSError:
            pass
    return path


def test_telemetry_recording_on_a_full_disk_loses_packets_not_the_controller(small_disk, tmp_path):
    from tests.flight.test_controller_downlink import NO_WINDOW, WINDOW, Ground, played_back

    p = PayloadHarness(small_disk / "state")
    try:
        ground = Ground(tmp_path / "ground", p)
        ground.second(**NO_WINDOW)
        filler = fill(small_disk)
        seen = []
        for _ in range(40):
            tms = ground.second(**NO_WINDOW)
            assert names(tms)[-1] == "HOUSEKEEPING"  # every tick answered
            seen += tms
        errors = [t.values["reason"] for t in seen if t.name == "STORE_ERROR"]
        assert errors and all("not recorded" in r for r in errors)
        filler.unlink()  # room again: recording resumes
        for _ in range(5):
            ground.second(**NO_WINDOW)
        for _ in range(30):
            ground.second(**WINDOW)
        played = played_back(ground.root)  # parses whole: no torn packet in the recording
        assert played and all(pkt.service in (3, 5) for pkt in played)
    finally:
        p.close()
