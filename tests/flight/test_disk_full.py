"""A job that fills the disk does not take the controller down: the state directory on a small
tmpfs (mounting needs root; skipped without), a job that writes until ENOSPC; the controller goes
on answering, reports what it cannot record, and records it once there is room again."""

import subprocess

import pytest

from flight.dictionary import JobState
from tests.flight.conftest import PayloadHarness


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


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
