"""The A/B update on the flight computer VM, across real restarts, a real reboot and a real power
cut (make test-vm): the bench uplinks a new version by CFDP over the VM's bus UART; it installs
into the other slot, activates, is started by systemd through the boot guard, serves its health
period and commits; the board reboots into it. A version that cannot start, one that is not
healthy in time, and a power cut at a random instant of an install are each rolled back or left
behind: the board always runs a committed slot. The bus runs at x10 (conftest.py). The bundles are
this checkout at other version numbers (tests/hil/test_image_update.py), signed with the disk's
image key."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from flight.security.keys import KeySet
from hil.bench import Bench
from tests.hil.conftest import BOOT_LIMIT_S, run_on_vm
from tests.hil.test_image_update import assert_rolled_back, bundles_at

pytestmark = [pytest.mark.vm_full, pytest.mark.timeout(1800)]
WATCHED = {
    "FILE_RECEIVED", "IMAGE_INSTALLED", "IMAGE_COMMITTED", "IMAGE_ROLLED_BACK", "CONTROLLER_STARTED"
}  # fmt: skip


def test_a_new_version_takes_over_across_real_restarts_and_bad_ones_never_stay(
    flight_disk, tmp_path
):
    _, work = flight_disk
    keys = KeySet.in_dir(work / "keys")
    bundles = bundles_at(("0.2.0", "0.3.0"), tmp_path, keys.image)
    versions = {v: build.name.split("-")[2] for v, build in bundles.items()}
    seen: dict[str, list] = {}
    rng = random.Random(18)

    async def scenario(bench: Bench) -> None:
        client, vm = bench.client, bench.processes.vm
        assert vm is not None
        bench.bus.clock.answer_timeout_s = 1.0  # ticks sent while the controller restarts are lost
        events = client.subscribe()
        loop = asyncio.get_running_loop()

        async def watch() -> None:  # every event of interest, in the order it came
            while True:
                tm = await client.await_telemetry(lambda t: t.name in WATCHED, None, events)
                seen.setdefault(tm.name, []).append(tm.values)

        async def reached(name: str, count: int, timeout: float = BOOT_LIMIT_S) -> None:
            """Until ``count`` events ``name`` have come in all."""
            deadline = loop.time() + timeout
            while len(seen.get(name, [])) < count:
                assert loop.time() < deadline, f"{name}: {len(seen.get(name, []))} of {count}"
                await asyncio.sleep(0.2)

        async def upload(version: str, name: str) -> None:
            mark = time.monotonic()
            await client.upload(str(bundles[version]), name)
            while name not in [e["name"] for e in seen.get("FILE_RECEIVED", [])]:
                assert time.monotonic() < mark + 1200, f"{name} not received"
                await asyncio.sleep(0.5)
            print(f"{name} uplinked in {time.monotonic() - mark:.0f} s")

        async def current() -> str:
            where = "readlink /opt/payload/current"
            _, out = await loop.run_in_executor(None, vm.run_in_guest, where)
            return out.strip()

        async def command(name: str, args: dict) -> None:
            hazardous = name == "IMAGE_ACTIVATE"
            result = await client.command(name, args, timeout=120, confirm=hazardous)
            assert result.ok, result.describe()

        watcher = asyncio.create_task(watch())
        await upload("0.2.0", "v2.tar")
        mark = time.monotonic()
        await command("IMAGE_INSTALL", {"file": "v2.tar"})
        await reached("IMAGE_INSTALLED", 1)
        install_s = time.monotonic() - mark
        print(f"installed in {install_s:.1f} s")
        await command("IMAGE_ACTIVATE", {"trial_s": 600, "health_s": 20})
        await reached("IMAGE_COMMITTED", 1)  # started again by systemd, on trial, healthy
        seen["committed"] = [await current()]

        vm.reboot()  # a real reboot: the board comes up on the committed slot
        await reached("CONTROLLER_STARTED", 2)
        seen["rebooted"] = [await current()]

        await upload("0.3.0", "v3.tar")
        await command("IMAGE_INSTALL", {"file": "v3.tar"})
        await reached("IMAGE_INSTALLED", 2)
        await command("IMAGE_ACTIVATE", {"trial_s": 600, "health_s": 20})
        await reached("IMAGE_ROLLED_BACK", 1)  # three starts that failed, then slot b again

        await command("IMAGE_INSTALL", {"file": "v2.tar"})
        await reached("IMAGE_INSTALLED", 3)
        await command("IMAGE_ACTIVATE", {"trial_s": 3, "health_s": 1_000_000})
        await reached("IMAGE_ROLLED_BACK", 2)  # its trial in slot a, then its deadline
        seen["rolled back"] = [await current()]

        installs = len(seen["IMAGE_INSTALLED"])
        starts = len(seen["CONTROLLER_STARTED"])
        await command("IMAGE_INSTALL", {"file": "v3.tar"})
        cut_at = rng.uniform(0.0, install_s)
        await asyncio.sleep(cut_at)
        vm.power_cycle()
        print(f"power cut {cut_at:.1f} s into an install")
        await reached("CONTROLLER_STARTED", starts + 1)
        seen["after the cut"] = [await current()]
        seen["installed before the cut"] = [len(seen["IMAGE_INSTALLED"]) - installs]
        await command("IMAGE_INSTALL", {"file": "v3.tar"})  # the torn slot is written again
        await reached("IMAGE_INSTALLED", len(seen["IMAGE_INSTALLED"]) + 1)
        watcher.cancel()

    run_on_vm("image-update-vm", scenario, tmp_path / "bench", flight_disk, wall_limit_s=1700)
    assert seen["IMAGE_COMMITTED"] == [{"slot": "b", "version": versions["0.2.0"]}]
    assert seen["committed"] == seen["rebooted"] == ["slots/b"]
    assert seen["rolled back"] == seen["after the cut"] == ["slots/b"]
    started = [e["version"] for e in seen["CONTROLLER_STARTED"]]
    # activated (b), rebooted (b), rolled back (b), on trial (a), rolled back (b), after the cut
    assert started == [versions["0.2.0"]] * 6, started
    assert_rolled_back(seen["IMAGE_ROLLED_BACK"], versions)
    assert seen["IMAGE_INSTALLED"][-1]["version"] == versions["0.3.0"]
    print(f"installs completed before the cut: {seen['installed before the cut'][0]}")
