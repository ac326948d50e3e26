"""A new flight software version goes up over the space link and takes over, and a bad one is
rolled back: real processes end to end (the HIL bench in lockstep, the ground station and its
CFDP entity, the controller started from an installed flight image under its boot guard, as
payload-controller.service starts it).

Version 0.1.0 is installed in slot a. A tampered bundle is refused on the wire; 0.2.0 is
uplinked, installed into slot b, activated, serves its health period and commits. 0.3.0, which
cannot start, is rolled back to 0.2.0 after its three starts; 0.2.0 again, activated with a health
period it cannot reach before its deadline, is rolled back by the guard's deadline check."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from flight.image.build import build_image, stage_sources
from flight.security.keys import provision_keys
from hil.bench import Bench, BenchConfig, run_bench

REPO = Path(__file__).resolve().parents[2]
BROKEN = '\nraise RuntimeError("this version cannot start, on purpose")\n'


def source_at(version: str, where: Path, broken: bool = False) -> Path:
    """A checkout of this tree with its version changed (and its controller broken), committed."""
    stage_sources(REPO, where)
    project = where / "pyproject.toml"
    project.write_text(project.read_text().replace('version = "0.1.0"', f'version = "{version}"'))
    if broken:
        with open(where / "flight/controller.py", "a") as out:
            out.write(BROKEN)
    (where / "build").mkdir()
    (where / "build/image-wheels").symlink_to(REPO / "build/image-wheels")
    git = ["git", "-C", str(where), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", version], check=True)
    return where


def bundles_at(versions: tuple[str, ...], work: Path, image_key: Path) -> dict[str, Path]:
    """A signed bundle of this tree at each version (0.3.0 broken), built in ``work``."""
    return {
        version: build_image(
            source_at(version, work / f"src-{version}", broken=version == "0.3.0"),
            work / "bundles",
            "x86_64",
            image_key,
        )
        for version in versions
    }


def assert_rolled_back(rollbacks: list[dict], versions: dict[str, str]) -> None:
    """The two rollbacks from slot a to b: 0.3.0, which cannot start, then 0.2.0, activated
    with a health period it cannot serve before its deadline."""
    failed, late = rollbacks
    assert failed == {
        "slot": "a", "version": versions["0.3.0"], "to_slot": "b", "reason": "failed to start"
    }  # fmt: skip
    assert late == {
        "slot": "a", "version": versions["0.2.0"], "to_slot": "b", "reason": "not healthy in time"
    }  # fmt: skip


def test_a_new_version_goes_up_takes_over_and_a_bad_one_is_rolled_back(tmp_path):
    keys = provision_keys(tmp_path / "keys")
    bundles = bundles_at(("0.1.0", "0.2.0", "0.3.0"), tmp_path, keys.image)
    tampered = tmp_path / "tampered.tar"
    data = bytearray(bundles["0.2.0"].read_bytes())
    data[-20_000] ^= 1  # inside the last wheel
    tampered.write_bytes(bytes(data))
    root = tmp_path / "root"
    subprocess.run(
        [sys.executable, "-P", "-m", "flight", "image", "install", str(bundles["0.1.0"]),
         "--keys", str(keys.flight), "--root", str(root)],
        check=True, capture_output=True,
    )  # fmt: skip
    seen: dict[str, list] = {}

    async def scenario(bench: Bench) -> None:
        client = bench.client
        bench.bus.clock.answer_timeout_s = 1.0  # ticks sent while the controller restarts are lost
        events = client.subscribe()

        async def event(name: str, timeout: float = 60.0) -> dict:
            tm = await client.await_telemetry(lambda t: t.name == name, timeout, events)
            seen.setdefault(name, []).append(tm.values)
            return tm.values

        async def upload(path: Path, name: str) -> None:
            await client.upload(str(path), name)
            while (await event("FILE_RECEIVED"))["name"] != name:
                pass

        await upload(tampered, "tampered.tar")
        refused = await client.command("IMAGE_INSTALL", {"file": "tampered.tar"})
        seen["refused"] = refused.failure.values
        await upload(bundles["0.2.0"], "v2.tar")
        assert (await client.command("IMAGE_INSTALL", {"file": "v2.tar"})).ok
        await event("IMAGE_INSTALLED")
        busy_free = await client.command(
            "IMAGE_ACTIVATE", {"trial_s": 600, "health_s": 20}, confirm=True
        )
        assert busy_free.ok, busy_free.describe()
        await event("IMAGE_ACTIVATED")
        await event("CONTROLLER_STARTED")
        await event("IMAGE_COMMITTED", 120)
        seen["after commit"] = os.readlink(root / "opt/payload/current")

        await upload(bundles["0.3.0"], "v3.tar")
        assert (await client.command("IMAGE_INSTALL", {"file": "v3.tar"})).ok
        await event("IMAGE_INSTALLED")
        assert (
            await client.command("IMAGE_ACTIVATE", {"trial_s": 600, "health_s": 20}, confirm=True)
        ).ok
        await event("IMAGE_ROLLED_BACK", 120)

        assert (await client.command("IMAGE_INSTALL", {"file": "v2.tar"})).ok
        await event("IMAGE_INSTALLED")
        assert (
            await client.command(
                "IMAGE_ACTIVATE", {"trial_s": 3, "health_s": 1_000_000}, confirm=True
            )
        ).ok
        await event("IMAGE_ROLLED_BACK", 120)
        seen["at the end"] = os.readlink(root / "opt/payload/current")

    config = BenchConfig(
        tmp_path / "bench", speed=None, keys=tmp_path / "keys", image_root=root, wall_limit_s=300
    )
    report = asyncio.run(run_bench("image-update", scenario, config))
    assert report.error is None, report.error
    versions = {v: build.name.split("-")[2] for v, build in bundles.items()}
    assert seen["refused"]["code"] == 62  # IMAGE_REJECTED
    assert "changed file wheels/" in seen["refused"]["reason"]
    assert [e["version"] for e in seen["IMAGE_INSTALLED"]] == [
        versions["0.2.0"], versions["0.3.0"], versions["0.2.0"]
    ]  # fmt: skip
    assert seen["IMAGE_COMMITTED"] == [{"slot": "b", "version": versions["0.2.0"]}]
    assert seen["CONTROLLER_STARTED"][0]["version"] == versions["0.2.0"]
    assert seen["after commit"] == "slots/b"
    assert_rolled_back(seen["IMAGE_ROLLED_BACK"], versions)
    assert seen["at the end"] == "slots/b"
