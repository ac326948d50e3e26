"""The controller is killed with SIGKILL at random instants while it sends files down by CFDP,
--crash-runs times, and started again each time (as systemd's Restart=on-failure would, by the
bench's watchdog emulation): every file it accepted a DOWNLINK_FILE for arrives at the ground
exactly once and intact.

Real processes end to end: the HIL bench in lockstep (bus time, and with it every CFDP timer,
stands while the controller is down), the controller, the ground station and its CFDP entity;
the files are sized to the number of kills so that the kills fall while they go down. The
ground's deliveries are counted from the station's own file reports.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import random

from hil.bench import Bench, BenchConfig, run_bench

FILES = 12
BYTES_PER_KILL = 700_000  # what goes down between two kills, about: sizes the files


def test_sigkill_during_file_downlink_delivers_every_file_once_intact(tmp_path, request):
    kills = request.config.getoption("--crash-runs")
    rng = random.Random(20261125)
    sources: dict[str, bytes] = {}  # name: SHA-256
    delivered: collections.Counter[str] = collections.Counter()
    accepted: list[str] = []
    killed = []

    async def scenario(bench: Bench) -> None:
        bench.client.station_listeners.append(
            lambda m: m.get("op") == "file" and m.get("delivered") and delivered.update([m["name"]])
        )
        data = bench.state_dir / "data"
        data.mkdir()
        for i in range(FILES):
            name = f"data/f{i:02d}.bin"
            content = rng.randbytes(rng.randint(size // 2, size * 3 // 2))
            (bench.state_dir / name).write_bytes(content)
            sources[name] = hashlib.sha256(content).digest()
            async with bench.bus.clock.hold():
                result = await bench.client.command(
                    "DOWNLINK_FILE", {"path": name, "priority": i % 3}, timeout=30
                )
            if result.ok:
                accepted.append(name)
        bench.bus.clock.answer_timeout_s = 1.0  # a tick sent while the controller was down is lost
        while len(killed) < kills:
            answered = bench.bus.serial.last_hk.packet.time
            while bench.bus.serial.last_hk.packet.time <= answered + 1:  # restarted and ticking
                await asyncio.sleep(0.02)
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            bench.processes.procs["flight"].kill()
            killed.append(len(set(accepted) - set(delivered)))  # files still on their way
        while bench.processes.restarts < len(killed) or not set(accepted) <= set(delivered):
            await asyncio.sleep(0.2)  # the run's wall-clock limit ends a wait that never would

    size = max(400_000, kills * BYTES_PER_KILL // FILES)
    wall = 300 + kills * 5.0
    config = BenchConfig(tmp_path, speed=None, watchdog_s=60.0, wall_limit_s=wall)
    report = asyncio.run(run_bench("crash-downlink", scenario, config))
    assert report.error is None, report.error
    assert accepted == sorted(sources), "every DOWNLINK_FILE was accepted before the kills"
    assert len(killed) == kills and report.figures["controller_restarts"] == kills
    assert report.figures["watchdog_expiries"] == 0
    assert {n: delivered[n] for n in accepted} == dict.fromkeys(accepted, 1)
    assert set(delivered.values()) == {1}, "the payload's own recordings also arrive once each"
    for name in accepted:
        got = (tmp_path / "ground-state" / "files" / name).read_bytes()
        assert hashlib.sha256(got).digest() == sources[name], name
    during = sum(1 for pending in killed if pending)
    assert during >= kills // 2, f"only {during} of {kills} kills fell while files went down"
    print(
        f"\ncrash downlink: {kills} SIGKILLs ({during} with files on their way), "
        f"{len(accepted)} files, each delivered once and intact"
    )
