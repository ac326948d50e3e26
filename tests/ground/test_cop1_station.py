"""COP-1 between the ground station and a spacecraft's FARM-1 (the bench's spacecraft link):
the AD service starts on the first CLCW, commands go up sequence-controlled and acknowledged, a
FARM lockout stops commanding and is reported, only the documented unlock clears it, and a
bypass command goes up around COP-1 meanwhile. The operator's view is `python -m ground cop1`."""

import asyncio
import json
import subprocess
import sys

from ground.accounts.store import Role
from ground.client import CommandRefused, StationClient
from tests.ground.test_station import start, stop


def _cop1(tmp_path, *words):
    port = (tmp_path / "port").read_text().strip()
    token = tmp_path / "ops.token"
    return subprocess.run(
        [sys.executable, "-m", "ground", "cop1", *words, "--station", f"127.0.0.1:{port}",
         "--token-file", str(token)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_lockout_is_reported_and_only_unlock_clears_it(tmp_path):
    async def scenario():
        radio, station, task, client = await start(tmp_path)
        token = station.accounts.issue_token("ops")[1]
        (tmp_path / "ops.token").write_text(token)
        (tmp_path / "ops.token").chmod(0o600)
        deliveries = []
        station_broadcast = station.broadcast

        def spy(message):
            if message.get("op") == "delivery":
                deliveries.append(message)
            station_broadcast(message)

        station.broadcast = spy
        (status,) = await client.cop1()
        assert status["state"] == "active" and status["scid"] == 161
        await client.send("PING")
        await asyncio.wait_for(radio.uplinked.get(), 5)
        while not deliveries:  # the FARM's CLCW came down acknowledging it
            await asyncio.sleep(0.01)
        assert deliveries[0]["delivered"] and radio.link.farm.counters["ad_accepted"] == 1

        radio.link.farm.vr = 100  # the FARM far from the ground's V(S): the next frame locks out
        await client.send("NOOP")
        while len(deliveries) < 2:
            await asyncio.sleep(0.01)
        assert not deliveries[1]["delivered"] and "locked out" in deliveries[1]["why"]
        assert radio.link.farm.lockout
        try:
            await client.send("NOOP")
            raise AssertionError("commanded through a lockout")
        except CommandRefused as exc:
            assert "locked out" in str(exc) and "python -m ground cop1" in str(exc)

        bypassed = await asyncio.to_thread(_cop1, tmp_path, "bypass", "PING")
        assert bypassed.returncode == 0, bypassed.stderr
        assert (await asyncio.wait_for(radio.uplinked.get(), 5))[7:9] == bytes([17, 1])
        assert radio.link.farm.counters["bd_accepted"] == 1
        for words in (("bypass", "NOT_A_COMMAND"), ("bypass", "PING", "x"), ("status", "PING")):
            mistake = await asyncio.to_thread(_cop1, tmp_path, *words)
            assert mistake.returncode == 2 and len(mistake.stderr.strip().splitlines()) == 1
            assert mistake.stderr.startswith("ground cop1") and "Traceback" not in mistake.stderr

        shown = await asyncio.to_thread(_cop1, tmp_path, "status")
        assert "COP-1 initial after an alert: the spacecraft's FARM is locked out" in shown.stdout
        unlocked = await asyncio.to_thread(_cop1, tmp_path, "unlock", "--json")
        assert unlocked.returncode == 0, unlocked.stderr
        while (await client.cop1())[0]["state"] != "active":
            radio.write_frames()  # the spacecraft's CLCW keeps coming down
            await asyncio.sleep(0.05)
        assert not radio.link.farm.lockout and radio.link.farm.counters["unlocks"] == 1
        request_id = await client.send("NOOP")
        assert (await asyncio.wait_for(radio.uplinked.get(), 5))[:4] == request_id
        await stop(task, client, radio)
        return json.loads(unlocked.stdout)

    (after_unlock,) = asyncio.run(scenario())
    assert after_unlock["state"] == "initialising_bc"  # the Unlock sent, its CLCW awaited


def test_a_viewer_sees_cop1_but_does_not_direct_it(tmp_path):
    async def scenario():
        radio, station, task, client = await start(tmp_path)
        station.accounts.add("vic", Role.VIEWER, None)
        token = station.accounts.issue_token("vic")[1]
        viewer = await StationClient.connect(
            f"127.0.0.1:{(tmp_path / 'port').read_text().strip()}", token
        )
        (status,) = await viewer.cop1()
        try:
            await viewer.cop1("terminate")
            raise AssertionError("a viewer terminated COP-1")
        except CommandRefused as exc:
            refusal = str(exc)
        await viewer.close()
        await stop(task, client, radio)
        return status, refusal

    status, refusal = asyncio.run(scenario())
    assert status["state"] == "active"
    assert refusal == "COP-1 directives need the operator role; this account is a viewer"
