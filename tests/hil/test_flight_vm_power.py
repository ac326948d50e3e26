"""Power cuts of the flight computer VM at random instants (make test-vm): QEMU killed with
nothing flushed, the disk booted again as it was left, VM_POWER_CUTS times (50 by default), while
jobs run, their results go down by CFDP, files come up, and an update installs. Then:
- nothing accepted is lost: every job whose SUBMIT_JOB completed ends COMPLETED and its results
  reach the ground, every file the payload said it received is on board intact;
- no job runs twice to completion: the ledger each job appends to as its last act has one line;
- no torn file is accepted: every file the ground took as delivered is the payload's file;
- the board always boots a committed slot: every CONTROLLER_STARTED is the committed version,
  from slot a (no version is activated here; a cut install is never booted).
The cut instants are uniform over the first 45 s after power-on (the boot itself included). The
cuts bring safe mode (three unclean starts within the hour), which stops jobs; the ground clears
it after each boot, as the crash test's ground does (tests/flight/test_crash_restart.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sqlite3
import time
from pathlib import Path

import pytest

from hil.bench import Bench
from tests.hil.conftest import run_on_vm

pytestmark = [pytest.mark.vm_full, pytest.mark.timeout(7200)]
CUTS = int(os.environ.get("VM_POWER_CUTS", "50"))
CUT_WITHIN_S = 45.0
STATE = "/var/lib/payload"
JOB_FILES = ("stdout.log", "stderr.log", "RESULTS.json")
READ_STORE = (
    "python3 -c \"import json, sqlite3; print(json.dumps(dict(sqlite3.connect('file:"
    f"{STATE}/jobs.sqlite?mode=ro', uri=True).execute('SELECT id, state FROM jobs'))))\""
)


def test_power_cuts_at_random_instants_lose_nothing_and_boot_only_committed_slots(
    flight_disk, tmp_path
):
    _, work = flight_disk
    bundle = next((work / "image").glob("*.tar"))
    version = bundle.name.split("-")[2]
    rng = random.Random(int(os.environ.get("VM_POWER_SEED", "18")))
    ground_state = tmp_path / "bench" / "ground-state"
    accepted_jobs: set[str] = set()
    received: dict[str, str] = {}  # file store name -> sha256 of what was sent
    starts: list[dict] = []
    slots: list[str] = []
    outcome: dict = {}

    async def scenario(bench: Bench) -> None:
        client, vm = bench.client, bench.processes.vm
        assert vm is not None
        bench.bus.clock.answer_timeout_s = 1.0  # ticks sent while the board is down are lost
        events = client.subscribe()
        loop = asyncio.get_running_loop()

        async def guest(command: str) -> str:
            status, out = await loop.run_in_executor(None, vm.run_in_guest, command)
            assert status == 0, (command, out)
            return out

        async def submit(job_id: str, seconds: float) -> None:
            manifest = {"id": job_id, "command": ["ledger", f"{seconds:.1f}"]}
            try:
                result = await client.command("SUBMIT_JOB", {"manifest": manifest}, timeout=30)
            except (TimeoutError, ConnectionError):
                return
            if result.ok:
                accepted_jobs.add(job_id)

        async def leave_safe_mode() -> None:  # the cuts are the test's doing: the ground
            try:  # clears the safe mode they bring (3 unclean starts within the hour)
                await client.command("SAFE_MODE_EXIT", timeout=30, confirm=True)
            except (TimeoutError, ConnectionError):
                pass

        sent: dict[str, str] = {}

        async def upload(name: str) -> None:
            data = rng.randbytes(rng.randrange(1, 40_000))
            (tmp_path / name).write_bytes(data)
            sent[name] = hashlib.sha256(data).hexdigest()
            await client.upload(str(tmp_path / name), name)

        async def watch() -> None:  # what the payload says, whenever it says it
            said = client.subscribe()
            while True:
                tm = await client.await_telemetry(
                    lambda t: t.name in ("CONTROLLER_STARTED", "FILE_RECEIVED"), None, said
                )
                if tm.name == "CONTROLLER_STARTED":
                    starts.append(tm.values)
                elif tm.values["name"] in sent:
                    received[tm.values["name"]] = sent[tm.values["name"]]

        watcher = asyncio.create_task(watch())
        await client.upload(str(bundle), "update.tar")
        await client.await_telemetry(
            lambda t: t.name == "FILE_RECEIVED" and t.values["name"] == "update.tar", 900, events
        )
        work: list[asyncio.Task] = []
        up, since = True, time.monotonic()  # the first boot was awaited by the bench
        for cut in range(CUTS):
            cut_at = since + rng.uniform(2.0, CUT_WITHIN_S)
            booted = len(starts)
            while not up and time.monotonic() < cut_at and len(starts) == booted:
                await asyncio.sleep(0.2)
            if up or len(starts) > booted:  # up before the cut: give it work, then cut
                slots.append((await guest("readlink /opt/payload/current")).strip())
                work.append(asyncio.create_task(leave_safe_mode()))
                for k in range(2):
                    work.append(asyncio.create_task(submit(f"c{cut}-{k}", rng.uniform(1, 8))))
                work.append(asyncio.create_task(upload(f"up-{cut}.bin")))
                if cut % 4 == 0:
                    install = client.command("IMAGE_INSTALL", {"file": "update.tar"}, timeout=30)
                    work.append(asyncio.create_task(install))
                await asyncio.sleep(max(0.0, cut_at - time.monotonic()))
            vm.power_cycle()
            up, since = False, vm.started_at
        booted = len(starts)
        while len(starts) == booted:  # the last power-on, left to run
            await asyncio.sleep(0.5)
        await leave_safe_mode()
        await asyncio.gather(*work, return_exceptions=True)
        deadline = time.monotonic() + 1200  # then it runs on until every accepted job is done
        while time.monotonic() < deadline:
            states = json.loads(await guest(READ_STORE))
            if all(states.get(job) in (3, 4, 5) for job in accepted_jobs):
                break
            await asyncio.sleep(5)
        outcome["states"] = states
        outcome["ledgers"] = {
            job: (await guest(f"cat {STATE}/jobs/{job}/ledger 2>/dev/null; true")).split()
            for job in states
        }
        outcome["on board"] = {
            name: (await guest(f"sha256sum {STATE}/files/{name} 2>/dev/null; true"))[:64]
            for name in received
        }
        expected = _results_of(accepted_jobs)
        deadline = time.monotonic() + 900  # the last results go down
        while time.monotonic() < deadline and not expected <= set(_delivered(ground_state)):
            await asyncio.sleep(5)
        outcome["job files"] = {
            f"{job}/{name}": (await guest(f"sha256sum {STATE}/jobs/{job}/{name} 2>&1; true"))[:64]
            for job in states
            for name in JOB_FILES
        }
        watcher.cancel()

    run_on_vm("power-cuts-vm", scenario, tmp_path / "bench", flight_disk, wall_limit_s=7000)
    ground = _delivered(ground_state)
    undelivered = sorted(_results_of(accepted_jobs) - set(ground))
    lost = [job for job in accepted_jobs if outcome["states"].get(job) != 3]
    twice = {job: lines for job, lines in outcome["ledgers"].items() if len(lines) > 1}
    torn_up = [name for name, digest in received.items() if outcome["on board"][name] != digest]
    torn_down = [
        name for name, digest in ground.items()
        if name in outcome["job files"] and outcome["job files"][name] != digest
    ]  # fmt: skip
    bad_boots = [s for s in starts if s["version"] != version] + [
        s for s in slots if s != "slots/a"
    ]
    print(
        f"{CUTS} power cuts: {len(starts)} boots to CONTROLLER_STARTED, {len(accepted_jobs)} jobs "
        f"accepted, {len(received)} files up, {len(ground)} files down; lost {len(lost)} "
        f"(results not down {len(undelivered)}), "
        f"twice {len(twice)}, torn up {len(torn_up)}, torn down {len(torn_down)}, "
        f"bad boots {len(bad_boots)}"
    )
    assert accepted_jobs and received and ground
    assert lost == [] and undelivered == [] and twice == {}, (lost, undelivered, twice)
    assert torn_up == [] and torn_down == [] and bad_boots == [], (torn_up, torn_down, bad_boots)
    assert all(len(outcome["ledgers"][job]) == 1 for job in accepted_jobs)


def _results_of(jobs: set[str]) -> set[str]:
    """The names the ground files the results of these jobs under."""
    return {f"{job}/{name}" for job in jobs for name in JOB_FILES}


def _delivered(ground_state: Path) -> dict[str, str]:
    """The files the ground took as delivered, and their digests."""
    with sqlite3.connect(ground_state / "files.sqlite") as db:
        rows = db.execute("SELECT name, sha256 FROM files WHERE delivered = 1 AND sha256 != ''")
        return dict(rows.fetchall())
