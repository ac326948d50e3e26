"""Key rotation in flight through the tools (python -m ground keys rotate), against a live bench:
real station, real controller, real pty."""

import asyncio
import json
import shutil
import sys

from hil.bench import BenchConfig, run_bench


async def rotate(bench, keys, *extra):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ground", "keys", "rotate", "--station", bench.station_address,
        "--token-file", str(bench.token_file), "--keys", str(keys), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=bench.config.out_dir,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


def test_the_ground_rotates_its_key_in_flight_and_keeps_command(tmp_path):
    seen = {}

    async def scenario(bench):
        station_keys = bench.config.out_dir.resolve() / "keys" / "ground.toml"
        stale = bench.config.out_dir.resolve() / "stale-ground.toml"
        shutil.copy(station_keys, stale)
        stale.chmod(0o600)
        seen["wrong file"] = await rotate(bench, stale)
        seen["after wrong file"] = (await bench.client.command("NOOP", timeout=30)).ok
        seen["rotate"] = await rotate(bench, station_keys, "--json")
        seen["noop with the new key"] = (await bench.client.command("NOOP", timeout=30)).ok
        seen["back"] = await rotate(bench, station_keys, "--to", "256")
        seen["noop again"] = (await bench.client.command("NOOP", timeout=30)).ok
        seen["none spare"] = await rotate(bench, station_keys, "--to", "999")
        bench.check("scenario ran", True)

    report = asyncio.run(run_bench("rotation", scenario, BenchConfig(tmp_path / "out", speed=20)))
    assert report.passed, report.to_json()["error"]

    code, out, err = seen["wrong file"]  # the station does not sign with that file's key
    assert code == 1 and "accepted nothing signed with key 257" in err, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert seen["after wrong file"]  # nothing was taken out of use: still in command

    code, out, err = seen["rotate"]
    assert code == 0, err
    result = json.loads(out)
    assert (result["old"], result["new"]) == ([256], 257)
    assert result["steps"][-1].startswith("done: ground key 257 in use on board")
    assert seen["noop with the new key"]

    code, out, err = seen["back"]
    assert code == 0, err
    assert "KEY_DEACTIVATE 257: completed" in out and "done: ground key 256" in out
    assert seen["noop again"]

    code, out, err = seen["none spare"]
    assert code == 1 and "key 999 is not on board" in err
    whats = [
        row["what"]
        for row in json.loads((tmp_path / "out" / "report.json").read_text())["timeline"]
    ]
    assert sum(w.startswith("event KEY_ACTIVATED ") for w in whats) == 2
    assert sum(w.startswith("event KEY_DEACTIVATED ") for w in whats) == 2
