"""One ground station for many spacecraft: the fleet file, and a station serving two payloads
on two space links, each with its own keys, telemetry, archive rows, files and COP-1, against
real TCP peers."""

import asyncio
import contextlib
import json
import os
import sys

import pytest

from flight import dictionary as d
from flight.dictionary import DICTIONARY_VERSION
from flight.security.keys import load_keys, provision_keys
from flight.security.replay import SecurityState
from flight.security.tc_auth import AuthError, TcVerifier
from ground.accounts.credentials import parse_token, proof
from ground.accounts.store import AccountStore
from ground.archive import Archive
from ground.client import CommandRefused, NoSuchSpacecraft, StationClient
from ground.fleet import FleetError, load_fleet
from ground.messages import encode_message, read_messages
from ground.station import Station
from tests.ground.accounts import provision
from tests.ground.test_cli import ground
from tests.ground.test_station import Radio, serving

ALPHA, BETA = 161, 162
NAMES = {ALPHA: "alpha", BETA: "beta"}


def fleet_file(tmp_path, ports):
    for name in ("alpha", "beta"):
        provision_keys(tmp_path / name)
    path = tmp_path / "fleet.toml"
    path.write_text(
        f'[[spacecraft]]\nname = "alpha"\nid = {ALPHA}\nkeys = "alpha/ground.toml"\n'
        f'link = "127.0.0.1:{ports[0]}"\n\n'
        f'[[spacecraft]]\nname = "beta"\nid = {BETA}\nkeys = "beta/ground.toml"\nentity = 7\n'
        f'dictionary = {DICTIONARY_VERSION}\nlink = "127.0.0.1:{ports[1]}"\n'
    )
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no [[spacecraft]] tables"),
        ("[[spacecraft]\n", "not TOML"),
        ('[[spacecraft]]\nname = "a"\nid = 1\nkeys = "k"\ncolour = 3\n', "unknown key 'colour'"),
        ('[[spacecraft]]\nname = "1a"\nid = 1\nkeys = "k"\n', "name must be a letter"),
        ('[[spacecraft]]\nname = "a"\nid = 70000\nkeys = "k"\n', "id must be a spacecraft id"),
        ('[[spacecraft]]\nname = "a"\nid = true\nkeys = "k"\n', "id must be a spacecraft id"),
        ('[[spacecraft]]\nname = "a"\nid = 1\n', "keys must name its ground key file"),
        ('[[spacecraft]]\nname = "a"\nid = 1\nkeys = "k"\nentity = -1\n', "entity must be"),
        ('[[spacecraft]]\nname = "a"\nid = 1\nkeys = "k"\nlink = "here"\n', "HOST:PORT"),
        ('[[spacecraft]]\nname = "a"\nid = 1\nkeys = "k"\ndictionary = 1\n', "flies dictionary 1"),
        (
            '[[spacecraft]]\nname = "a"\nid = 1\nkeys = "k"\n[[spacecraft]]\nname = "b"\nid = 1\n'
            'keys = "k"\n',
            "two spacecraft with scid 1",
        ),
        ("spacecraft = 3\n", "no [[spacecraft]] tables"),
        ("spacecraft = [3]\n", "spacecraft 1 is not a table"),
    ],
)
def test_a_fleet_file_that_cannot_be_used_is_one_line(tmp_path, text, message):
    path = tmp_path / "fleet.toml"
    path.write_bytes(text.encode())
    with pytest.raises(FleetError) as raised:
        load_fleet(path)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_the_station_command_line_refuses_a_bad_fleet_or_mesh_plan_in_one_line(tmp_path):
    (tmp_path / "fleet.toml").write_text('[[spacecraft]]\nname = "a"\nid = 1\nkeys = "k"\n')
    provision_keys(tmp_path / "k1")
    (tmp_path / "good.toml").write_text(
        '[[spacecraft]]\nname = "a"\nid = 1\nkeys = "k1/ground.toml"\nlink = "127.0.0.1:9"\n'
    )
    (tmp_path / "mesh.json").write_text('{"contacts": 3}')
    for args, message in [
        (["--fleet", "good.toml", "--mesh", "mesh.json"], "mesh.json: contact plan: 'contacts'"),
        (["--fleet", "good.toml", "--mesh", "none.json"], "cannot read the mesh plan none.json"),
        (["--fleet", "fleet.toml"], "a name no link of their own: give --link"),
        (["--fleet", "fleet.toml", "--link", "127.0.0.1:9"], "k: No such file"),
        (["--fleet", "none.toml", "--link", "127.0.0.1:9"], "cannot read the fleet file"),
        (["--fleet", "fleet.toml", "--keys", "k1/ground.toml"], "--keys is for one spacecraft"),
        (["--link", "127.0.0.1:9"], "needs --link and --keys (or --fleet FILE)"),
    ]:
        done = ground("station", "--listen", "127.0.0.1:0", *args, cwd=tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr


async def _fleet_station(tmp_path):
    radios = {ALPHA: Radio(ALPHA), BETA: Radio(BETA)}
    ports = [await radios[ALPHA].serve(), await radios[BETA].serve()]
    store, tokens = provision(tmp_path / "accounts", ops="operator")
    station = Station(
        "",
        load_fleet(fleet_file(tmp_path, ports)),
        tmp_path / "state",
        accounts=AccountStore(store),
    )
    task, address = await serving(station, tmp_path)
    for radio in radios.values():
        await asyncio.wait_for(radio.connected.wait(), 10)
    return radios, station, task, address, tokens["ops"]


async def _stop(radios, station, task):
    """The station and its radios stopped, its archive closed."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for radio in radios.values():
        await radio.close()
    station.archive.close()


async def fleet_cli(address, token, tmp_path, *extra):
    """``ground fleet`` run against the station: its exit status, output and errors."""
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "token").chmod(0o600)
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ground", "fleet", "--station", address, "--token-file",
        str(tmp_path / "token"), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONSAFEPATH": "1"},
    )  # fmt: skip
    out, err = await cli.communicate()
    return cli.returncode, out.decode(), err.decode()


def test_a_client_that_watches_one_spacecraft_is_sent_no_other_ones_telemetry(tmp_path):
    async def scenario():
        radios, station, task, address, token = await _fleet_station(tmp_path)
        host, port = address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        messages = read_messages(reader)
        nonce = (await anext(messages))["nonce"]
        token_id, secret = parse_token(token)
        writer.write(encode_message({"op": "auth", "token_id": token_id,
                                     "proof": proof(secret, nonce, token_id)}))  # fmt: skip
        assert (await anext(messages))["op"] == "welcome"
        writer.write(encode_message({"op": "watch", "ref": 1, "spacecraft": "alpha"}))
        writer.write(encode_message({"op": "watch", "spacecraft": "gamma"}))  # no answer
        writer.write(encode_message({"op": "watch", "ref": 2, "spacecraft": "gamma"}))
        answers = [await anext(messages) for _ in range(2)]
        everyone = await StationClient.connect(address, token)
        await everyone.greeting(10)
        seen = everyone.subscribe()
        radios[BETA].downlink("CONTROLLER_STARTED", {"version": "beta"})
        assert (await asyncio.wait_for(seen.get(), 10)).name == "CONTROLLER_STARTED"
        radios[ALPHA].downlink("PING_REPORT", {})
        sent = []
        while not sent or sent[-1].get("op") != "tm":
            sent.append(await asyncio.wait_for(anext(messages), 10))
        writer.close()
        await everyone.close()
        await _stop(radios, station, task)
        return answers, sent

    answers, sent = asyncio.run(scenario())
    assert answers[0] == {"op": "watching", "ref": 1, "spacecraft": ALPHA}
    assert (
        answers[1]["op"] == "error"
        and answers[1]["ref"] == 2
        and "no spacecraft 'gamma' here" in answers[1]["message"]
    )
    # beta's packet went out first, to every client but this one
    assert [m["spacecraft"] for m in sent if m.get("op") == "tm"] == [ALPHA]


def _housekeeping(**values):
    """A housekeeping report: every field at its lowest, but ``values``."""
    fields = d.TELEMETRY_BY_NAME["HOUSEKEEPING"].fields
    return {f.name: min(f.enum) if f.enum else f.minimum or 0 for f in fields} | values


def test_the_fleet_view_shows_each_spacecrafts_power_gpu_jobs_contact_and_links(tmp_path):
    async def scenario():
        radios, station, task, address, token = await _fleet_station(tmp_path)
        client = await StationClient.connect(address, token)
        await client.greeting(10)
        seen = client.subscribe()
        radios[ALPHA].downlink("HOUSEKEEPING", _housekeeping(
            power_allowance_w=612.0, battery_soc=0.8, sunlit=1, link_in_s=0, jobs_queued=2,
            job_state=int(d.JobState.RUNNING), gpu_valid=1, gpu_temp_c=63.0, gpu_power_w=312.0,
            isl_links=2, relay_files=3,
        ))  # fmt: skip
        radios[BETA].downlink("HOUSEKEEPING", _housekeeping(
            power_allowance_w=0.0, battery_soc=0.5, sunlit=0, link_in_s=1500, gpu_valid=0,
            gpu_temp_c=float("nan"), gpu_power_w=float("nan"),
        ))  # fmt: skip
        for _ in range(2):
            await asyncio.wait_for(seen.get(), 10)
        status = {c["name"]: c["health"] for c in await client.fleet_status()}
        table = await fleet_cli(address, token, tmp_path)
        await client.close()
        await _stop(radios, station, task)
        return status, *table

    status, code, out, err = asyncio.run(scenario())
    alpha, beta = status["alpha"], status["beta"]
    assert alpha["power_allowance_w"] == 612 and alpha["job_state"] == "RUNNING"
    assert alpha["gpu_temp_c"] == 63 and alpha["hk_time"] == 100.0 and alpha["link_in_s"] == 0
    assert beta["gpu_temp_c"] is None and beta["gpu_valid"] == 0 and beta["sunlit"] == 0
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert all(w in rows["alpha"] for w in ("612 W 80%", "sun", "63 C 312 W", "2 queued", "now",
                                            "2 up, 3 files held"))  # fmt: skip
    assert all(w in rows["beta"] for w in ("0 W 50%", "shadow", "off", "in 25 min"))


def test_two_spacecraft_on_one_station_never_mix(tmp_path):
    async def scenario():
        radios, station, task, address, token = await _fleet_station(tmp_path)
        seen = {}
        everyone = await StationClient.connect(address, token)
        alpha = await StationClient.connect(address, token, spacecraft="alpha")
        beta = await StationClient.connect(address, token, spacecraft=str(BETA))
        for client in (everyone, alpha, beta):
            await client.greeting(10)
        while not (alpha.link_up and beta.link_up):
            await asyncio.sleep(0.01)
        seen["fleet"] = [(c["name"], c["scid"], c["entity"]) for c in everyone.fleet]
        seen["scids"] = (everyone.scid, alpha.scid, beta.scid)
        with pytest.raises(CommandRefused) as unnamed:
            await everyone.send("PING")
        seen["unnamed"] = str(unnamed.value)
        queues = {name: c.subscribe() for name, c in (("all", everyone), ("a", alpha), ("b", beta))}
        await alpha.send("PING")
        await beta.send("NOOP")
        seen["up alpha"] = await asyncio.wait_for(radios[ALPHA].uplinked.get(), 10)
        seen["up beta"] = await asyncio.wait_for(radios[BETA].uplinked.get(), 10)
        radios[ALPHA].downlink("PING_REPORT", {})
        radios[BETA].downlink("CONTROLLER_STARTED", {"version": "beta"})
        seen["a"] = (await asyncio.wait_for(queues["a"].get(), 10)).name
        seen["b"] = (await asyncio.wait_for(queues["b"].get(), 10)).name
        seen["all"] = sorted(
            [(await asyncio.wait_for(queues["all"].get(), 10)).name for _ in range(2)]
        )
        seen["a after"] = queues["a"].qsize()
        seen["status"] = {c["name"]: c["tm_received"] for c in await everyone.fleet_status()}
        seen["cop1"] = [s["scid"] for s in await alpha.cop1()]
        stranger = await StationClient.connect(address, token, spacecraft="gamma")
        with pytest.raises(NoSuchSpacecraft) as unknown:
            await stranger.greeting(10)
        seen["unknown"] = str(unknown.value)
        seen["cli"] = await fleet_cli(address, token, tmp_path, "--spacecraft", "beta", "--json")
        code, out, err = await fleet_cli(address, token, tmp_path)
        seen["table"] = (code, out.splitlines(), err)
        for client in (everyone, alpha, beta, stranger):
            await client.close()
        await _stop(radios, station, task)
        return seen

    seen = asyncio.run(scenario())
    assert seen["fleet"] == [("alpha", ALPHA, 1), ("beta", BETA, 7)]
    assert seen["scids"] == (None, ALPHA, BETA)
    assert "name the spacecraft" in seen["unnamed"] and "alpha (161), beta (162)" in seen["unnamed"]
    # each command went up its own spacecraft's link, signed with its own keys
    for scid, other, raw in ((ALPHA, BETA, seen["up alpha"]), (BETA, ALPHA, seen["up beta"])):
        mine = TcVerifier(
            load_keys(tmp_path / NAMES[scid] / "flight.toml"), SecurityState(tmp_path / f"s{scid}")
        )
        theirs = TcVerifier(
            load_keys(tmp_path / NAMES[other] / "flight.toml"), SecurityState(tmp_path / f"t{scid}")
        )
        assert mine.check(raw).key_id == 256
        with pytest.raises(AuthError):
            theirs.check(raw)
    assert (seen["a"], seen["b"]) == ("PING_REPORT", "CONTROLLER_STARTED")
    assert seen["all"] == ["CONTROLLER_STARTED", "PING_REPORT"] and seen["a after"] == 0
    assert seen["status"] == {"alpha": 1, "beta": 1}
    assert seen["cop1"] == [ALPHA]
    assert "serves no spacecraft 'gamma'" in seen["unknown"]
    code, lines, err = seen["table"]
    assert code == 0 and lines[0].split()[:3] == ["spacecraft", "id", "link"], err
    assert [line.split()[:3] for line in lines[1:-1]] == [
        ["alpha", "161", "up"],
        ["beta", "162", "up"],
    ]
    assert lines[-1] == "fleet job broker (broker placement): no jobs; 0 placed again"
    code, out, err = seen["cli"]
    assert code == 0 and '"name": "beta"' in out and '"alpha"' not in out, err
    archive = Archive(tmp_path / "state" / "archive.sqlite", create=False)
    assert [p.decoded().name for p in archive.packets(spacecraft=ALPHA)] == ["PING_REPORT"]
    assert [p.decoded().name for p in archive.packets(spacecraft=BETA)] == ["CONTROLLER_STARTED"]
    assert [(c.scid, c.name) for c in archive.commands()] == [(ALPHA, "PING"), (BETA, "NOOP")]
    archive.close()
    # the tools that read the station's state take the spacecraft by the name it recorded
    query = ground(
        "archive", "query", "--state", "state", "--spacecraft", "beta", "--json", cwd=tmp_path
    )
    assert query.returncode == 0, query.stderr
    assert [(r["name"], r["spacecraft"]) for r in json.loads(query.stdout)] == [
        ("CONTROLLER_STARTED", BETA)
    ]
    for tool in (["archive", "query"], ["web", "--listen", "127.0.0.1:0"]):
        refused = ground(*tool, "--state", "state", "--spacecraft", "gamma", cwd=tmp_path)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert "no spacecraft 'gamma' in the fleet recorded in" in refused.stderr
    for name in ("alpha", "beta"):  # each its own files, register and CFDP journal
        assert (tmp_path / "state" / name / "files.sqlite").is_file()
        assert (tmp_path / "state" / name / "cfdp.sqlite").is_file()
