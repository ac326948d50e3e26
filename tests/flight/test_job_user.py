"""Jobs of a controller running as root run as the dedicated unprivileged user, with the resource
limits, and reach neither the keys nor the controller's state; links a job plants in its own
directory never make the controller read, write or send through them.

Needs root (to switch users) and useradd (to create the account once); skipped elsewhere. The
job is a shell script: an interpreter in a home only root can enter could not run as the user.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from flight.jobs.sandbox import CONTROLLER_UMASK, SandboxError, job_user, prepare_state_dir
from flight.security.keys import provision_keys
from tests.flight.conftest import PayloadHarness

USER = "payload-job"
SCRIPT = """\
id -u > out
cat "$KEYS" >/dev/null 2>&1 && echo READ_KEYS >> out
cat "$STATE/jobs.sqlite" >/dev/null 2>&1 && echo READ_JOB_STORE >> out
cat "$STATE/security.state" >/dev/null 2>&1 && echo READ_SECURITY_STATE >> out
ls "$STATE" >/dev/null 2>&1 && echo LISTED_STATE >> out
cat "$STATE/downlink/journal" >/dev/null 2>&1 && echo READ_DOWNLINK >> out
cat "$STATE/jobs/old-1/result" >/dev/null 2>&1 && echo READ_OTHER_JOB >> out
cat "$JOB_INPUT_DIR/input.txt" >> out
ulimit -c >> out
ulimit -n >> out
ulimit -p >> out
ln -s "$STATE/security.state" leak
ln -s "$VICTIM" exit_status.tmp
ln -s "$VICTIM" RESULTS.tmp
"""


@pytest.fixture
def user():
    if os.geteuid() != 0:
        pytest.skip("switching to the job user needs root")
    if subprocess.run(["id", "-u", USER], capture_output=True).returncode != 0:
        if shutil.which("useradd") is None:
            pytest.skip("no useradd to create the job user")
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
            check=True,
        )
    return job_user(USER)


@pytest.fixture
def world():
    """A directory the job user can pass through (pytest's own are root's alone)."""
    top = Path(tempfile.mkdtemp(prefix="job-user-", dir="/var/tmp"))
    top.chmod(0o711)
    yield top
    shutil.rmtree(top)


def test_a_job_runs_as_the_user_with_limits_and_reaches_no_keys_and_no_state(user, world):
    state = world / "state"
    keys = provision_keys(world / "keys")
    victim = world / "victim"
    victim.write_text("untouched\n")
    (state / "files").mkdir(parents=True)
    (state / "files" / "input.txt").write_text("input-read\n")
    for made_before in (state / "downlink" / "journal", state / "jobs" / "old-1" / "result"):
        made_before.parent.mkdir(parents=True)  # by an earlier run, with the usual umask
        made_before.write_text("private\n")
        made_before.chmod(0o644)
        made_before.parent.chmod(0o755)
    umask = os.umask(CONTROLLER_UMASK)  # as python -m flight run sets it when root
    prepare_state_dir(state, user)
    payload = PayloadHarness(state, job_user=user)
    try:
        (state / "bin").chmod(0o755)
        payload.install_job("probe", SCRIPT)
        payload.tick()
        manifest = {
            "id": "probe-1",
            "command": ["probe"],
            "inputs": ["input.txt"],
            "results": [{"path": "out"}, {"path": "leak"}],
            "env": {"KEYS": str(keys.flight), "STATE": str(state), "VICTIM": str(victim)},
        }
        assert payload.command("SUBMIT_JOB", {"manifest": manifest})[-1].name == (
            "COMPLETION_SUCCESS"
        )
        payload.tick()
        payload.wait_job_process("probe-1")
        ended = [t.name for t in payload.tick()]
        assert "JOB_COMPLETED" in ended, ended
        workdir = state / "jobs" / "probe-1"
        lines = (workdir / "out").read_text().split()
        assert lines == [str(user.uid), "input-read", "0", "4096", "1024"]
        assert (workdir.stat().st_uid, workdir.stat().st_mode & 0o777) == (user.uid, 0o700)
        for private in (state / "jobs.sqlite", state / "security.state", keys.flight):
            assert private.stat().st_mode & 0o007 == 0, private
        assert victim.read_text() == "untouched\n"  # status and RESULTS.json written anew
        assert (workdir / "exit_status").read_text().strip() == "0"
        job = payload.ctl.runner.jobs["probe-1"]
        assert [r["path"] for r in job.results()] == ["stdout.log", "stderr.log", "out"]
    finally:
        payload.close()
        os.umask(umask)


def test_the_job_user_must_exist_and_be_unprivileged():
    with pytest.raises(SandboxError, match="does not exist: create it"):
        job_user("no-such-account-here")
    with pytest.raises(SandboxError, match="privileged"):
        job_user("root")


def test_where_the_unit_forbids_set_group_id_the_file_store_goes_without_and_says_so(
    user, world, monkeypatch, caplog
):
    """systemd's RestrictSUIDSGID= refuses chmod with S_ISGID (EPERM) from its seccomp filter;
    this machine runs no such unit, so the refusal is made at that call. A store already
    provisioned 2750 is left alone (no chmod at all); one that is not gets 0750 and a warning."""
    import stat as st

    real_chmod = os.chmod

    def seccomp_chmod(path, mode, *args, **kwargs):
        if mode & st.S_ISGID:
            raise PermissionError(1, "Operation not permitted", str(path))
        return real_chmod(path, mode, *args, **kwargs)

    monkeypatch.setattr("flight.jobs.sandbox.os.chmod", seccomp_chmod)
    state = world / "state"
    (state / "files").mkdir(parents=True)
    real_chmod(state / "files", 0o2750)
    prepare_state_dir(state, user)  # provisioned: nothing to change, nothing refused
    assert st.S_IMODE((state / "files").stat().st_mode) == 0o2750
    assert (state / "files").stat().st_gid == user.gid
    fresh = world / "fresh"
    with caplog.at_level("WARNING", logger="flight.jobs.sandbox"):
        prepare_state_dir(fresh, user)
    assert st.S_IMODE((fresh / "files").stat().st_mode) == 0o750
    assert (fresh / "files").stat().st_gid == user.gid
    assert "cannot be made set-group-ID" in caplog.text
