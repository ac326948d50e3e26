"""The job supervisor passes on a signal that reached it before the job was started: a
CANCEL_JOB sent right after JOB_STARTED stops the job, however busy the machine (the job's
process is not yet in the group when the supervisor is still starting it)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from flight.jobs.supervise import PID_FILE
from flight.jobs.process import SUPERVISOR


@pytest.mark.parametrize("after_ms", [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0])
def test_a_stop_sent_while_the_supervisor_starts_the_job_stops_the_job(tmp_path, after_ms):
    job = tmp_path / "job.sh"
    job.write_text("#!/bin/sh\nexec sleep 60\n")
    job.chmod(0o755)
    lock = os.open(tmp_path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        supervisor = subprocess.Popen(
            [sys.executable, "-I", "-S", str(SUPERVISOR), str(lock), "exit_status", "-", "-",
             str(job)],
            cwd=tmp_path,
            start_new_session=True,
            pass_fds=(lock,),
        )  # fmt: skip
    finally:
        os.close(lock)
    end = time.monotonic() + 30
    while not (tmp_path / PID_FILE).exists():  # the supervisor is about to start the job
        assert time.monotonic() < end, "the supervisor never started"
    at = time.perf_counter() + after_ms / 1000  # into the start of the job, spun, not slept
    while time.perf_counter() < at:
        pass
    os.killpg(supervisor.pid, signal.SIGTERM)  # what CANCEL_JOB sends
    try:
        supervisor.wait(30)  # far less than the job's 60 s
    except subprocess.TimeoutExpired:
        os.killpg(supervisor.pid, signal.SIGKILL)
        raise AssertionError("the stop was lost: the job ran on") from None
    status = tmp_path / "exit_status"
    if status.exists():  # the job had started: it was stopped by the signal
        assert status.read_text().strip() == str(-signal.SIGTERM)
    else:  # the supervisor was stopped before it started anything
        assert supervisor.returncode == -signal.SIGTERM
