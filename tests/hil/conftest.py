"""What the flight computer VM tests share: one flight disk for the session, built from Debian's
packages (the root cached in build/vm-cache, so only a machine's first run builds it) and this
checkout's bundle, with the sample jobs, a probe of the unit's sandbox and a job that keeps a
ledger of its completions in its job area."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from flight.image.build import build_image
from flight.image.bundle import read_bundle
from flight.image.disk import DiskSettings, build_disk
from flight.image.rootfs import build_rootfs
from flight.security.keys import IMAGE_KEYS, load_signing_keys, provision_keys
from hil.bench import Bench, BenchConfig, run_bench, write_sample_jobs
from hil.report import Report

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "build/vm-cache"
PACKAGES = ("python3-numpy",)  # the sample training job's (as make vm-disk builds it)
BOOT_LIMIT_S = 300  # a generous bound for a loaded machine; the boot time is measured, not this
# The station uplinks at 64 kbit/s of bus time: a bundle (6 MB) takes 13 bus minutes, so the
# update and power-cut runs put the bus at x10 (the line at 1 Mbaud, which the pty carries, to
# keep up); the update's own times (health, deadlines) are bus seconds
VM_SPEED, VM_BAUD = 10.0, 1_000_000
# A job that tries to write to each path it is given and prints what happened (the errno's name)
WRITE_PROBE = b"""#!/usr/bin/python3
import errno, sys
for path in sys.argv[1:]:
    try:
        with open(path, "w") as out:
            out.write("probe")
        print(path, "written")
    except OSError as exc:
        print(path, errno.errorcode[exc.errno])
"""
# A job that works for the seconds it is given, then appends its id to a ledger in its own
# directory, durably, as its last act: the ledger counts its completions whatever the controller
# remembers (tests/flight/test_crash_restart.py does the same on the host)
LEDGER_JOB = b"""#!/usr/bin/python3
import os, sys, time
time.sleep(float(sys.argv[1]))
with open(os.path.join(os.environ["JOB_DIR"], "ledger"), "a") as ledger:
    ledger.write(os.environ["JOB_ID"] + "\\n")
    ledger.flush()
    os.fsync(ledger.fileno())
print("completed", os.environ["JOB_ID"])
"""


def bench_disk(work: Path, target: str, jobs: dict[str, bytes]) -> tuple[Path, dict]:
    """An engineering disk for ``target`` in ``work`` (keys/, image/ with the bundle, jobs/):
    fresh keys, this checkout's bundle, the sample jobs and ``jobs``; the disk and its
    manifest."""
    keys = provision_keys(work / "keys")
    bundle_path = build_image(REPO, work / "image", target, keys.image)
    bundle = read_bundle(bundle_path, load_signing_keys(keys.flight, IMAGE_KEYS), target)
    write_sample_jobs(work / "jobs", "/usr/bin/python3")
    sample = {p.name: p.read_bytes() for p in (work / "jobs").iterdir()}
    settings = DiskSettings(
        target,
        keys=keys.flight.read_bytes(),
        site_config=b"PAYLOAD_GPU=simulated\n",
        state_mib=256,
        engineering=True,
        jobs=sample | jobs,
    )
    rootfs = build_rootfs(target, CACHE, engineering=True, extra=PACKAGES)
    image = work / "disk.img"
    manifest = build_disk(rootfs, bundle, settings, image, CACHE)
    packages = {p["package"] for p in manifest["packages"]}
    assert packages >= {"systemd", "python3.11", *PACKAGES}
    assert manifest["target"] == target and manifest["bundle"]["version"] == bundle.version
    assert re.fullmatch("[0-9a-f]{32}", manifest["machine_id"])
    return image, manifest


@pytest.fixture(scope="session")
def flight_disk(tmp_path_factory) -> tuple[Path, Path]:
    """The disk and its work directory (keys/, image/ with the bundle, jobs/)."""
    if os.geteuid() != 0:
        pytest.skip("building a flight disk needs root (mmdebstrap --mode=root)")
    work = tmp_path_factory.mktemp("vm")
    image, _ = bench_disk(work, "x86_64", {"write-probe": WRITE_PROBE, "ledger": LEDGER_JOB})
    return image, work


def run_on_vm(
    name: str,
    scenario: Callable[[Bench], Awaitable[None]],
    out: Path,
    flight_disk: tuple[Path, Path],
    wall_limit_s: float,
) -> Report:
    """A bench run of ``scenario`` against the flight disk in its VM, at VM_SPEED; its report,
    which must carry no error."""
    image, work = flight_disk
    config = BenchConfig(
        out, speed=VM_SPEED, baud=VM_BAUD, keys=work / "keys", flight_vm=image,
        wall_limit_s=wall_limit_s,
    )  # fmt: skip
    report = asyncio.run(run_bench(name, scenario, config))
    assert report.error is None, report.error
    return report
