"""Results checked against the digests their job declared (SHA256SUMS) before they go down: a
result file altered after the job wrote it (a silent upset through the simulated GPU's fault
channel) makes the job's results suspect, said once (JOB_RESULTS_SUSPECT), counted in
housekeeping and written in RESULTS.json, and the ground never marks them verified; a result
left as written goes down as before. What the job's SHA256SUMS cannot say is ignored."""

from __future__ import annotations

import hashlib
import json
import time

from flight.dictionary import JobState
from flight.gpu.fault_channel import send_fault
from flight.jobs.result_digests import altered, declared
from ground.files import FileRegistry
from tests.flight.test_sample_jobs import events

JOB = """printf 'the model, as the job computed it' > model.bin
sha256sum model.bin > SHA256SUMS
while [ ! -e go ]; do sleep 0.05; done
"""


def test_a_result_altered_after_the_job_wrote_it_goes_down_suspect(sim_payload, tmp_path):
    p = sim_payload
    p.allowance = 720.0
    p.install_job("writer", JOB)
    ground = FileRegistry(tmp_path / "ground")
    for job_id, upset in (("clean", False), ("hit", True)):
        manifest = {"id": job_id, "command": ["writer"], "results": [{"path": "model.bin"}]}
        p.command("SUBMIT_JOB", {"manifest": manifest})
        workdir = p.state_dir / "jobs" / job_id
        deadline = time.monotonic() + 60
        while not (workdir / "SHA256SUMS").is_file() or not declared(workdir):
            assert time.monotonic() < deadline
            p.tick()
            time.sleep(0.02)
        if upset:
            send_fault(
                p.state_dir, {"upset": "result", "job": job_id, "path": "model.bin", "seed": 4}
            )
        (workdir / "go").touch()
        seen, tms = [], []
        while p.ctl.runner.jobs[job_id].state is JobState.RUNNING:
            assert time.monotonic() < deadline, seen
            tms = p.tick()
            seen += [n for n, _ in events(tms)]
            time.sleep(0.02)
        assert "JOB_COMPLETED" in seen
        assert ("JOB_RESULTS_SUSPECT" in seen) is upset
        assert p.ctl.runner.jobs[job_id].rec.suspect is upset
        assert [t.values["sdc_detected"] for t in tms if t.name == "HOUSEKEEPING"] == [int(upset)]
        summary = json.loads((workdir / "RESULTS.json").read_text())
        assert summary["suspect"] is upset
        for name in ("model.bin", "RESULTS.json"):  # as the ground receives them
            arrived = ground.files_dir / job_id / name
            arrived.parent.mkdir(parents=True, exist_ok=True)
            arrived.write_bytes((workdir / name).read_bytes())
            ground.received(f"{job_id}/{name}", arrived.stat().st_size, "NO_ERROR", True)
        assert ground.row(f"{job_id}/model.bin").check == ("suspect" if upset else "verified")
    assert p.ctl.faults.upsets.applied["result"] == 1


def test_what_sha256sums_cannot_say_is_ignored(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"a")
    (tmp_path / "b.bin").write_bytes(b"b")
    (tmp_path / "c.bin").write_bytes(b"c")
    a, b = (hashlib.sha256(x).hexdigest() for x in (b"a", b"b"))
    (tmp_path / "SHA256SUMS").write_bytes(
        f"{a}  a.bin\n{a} *b.bin\nnot a digest  c.bin\n{b[:10]}  c.bin\n\xff\xfe\n".encode()
        + b"\xff garbage\n"
    )
    assert declared(tmp_path) == {"a.bin": a, "b.bin": a}
    now = {name: hashlib.sha256(name[0].encode()).hexdigest() for name in ("a.bin", "b.bin")}
    assert altered(tmp_path, now | {"c.bin": b, "missing.bin": a}) == ["b.bin"]
    (tmp_path / "SHA256SUMS").unlink()
    (tmp_path / "SHA256SUMS").symlink_to(tmp_path / "a.bin")  # never read through a link
    assert declared(tmp_path) == {} and altered(tmp_path, now) == []
