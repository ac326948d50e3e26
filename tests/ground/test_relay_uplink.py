"""Reaching a spacecraft out of contact: ``ground relay`` signs the files and commands for it
into one consignment (its keys, its sequence numbers) and sends it up to a spacecraft of the
fleet that is in contact, named ``uplink/ITS_ID/ID``, to cross the laser mesh; the payload's
own admission then takes every telecommand in it. With no spacecraft in contact, a carrier
named that is not, or a command that is no command, it says so in one line. A real station, a
real command line, real space links (the test's radios)."""

import asyncio
import json
import os
import sys

from dataclasses import replace

from flight.cfdp.filestore import FileStore
from flight.cfdp.pdu import decode
from flight.cfdp.pdu_types import Metadata
from flight.protocol.messages import decode_command
from flight.protocol.packets import parse_packet
from flight.relay.consignment import read_consignment
from flight.security.keys import load_keys
from flight.security.replay import SecurityState
from flight.security.tc_auth import TRAILER_LEN, TcVerifier
from ground.audit import audit_rows
from tests.ground.test_broker import T0, _hk, _Station
from tests.ground.test_fleet import ALPHA, BETA

CORPUS = b"First Citizen: Before we proceed any further, hear me speak.\n" * 200
JOB = {"id": "train-1", "command": ["train.py"], "inputs": ["corpus.txt"]}


async def _relay_cli(s, *args):
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ground", "relay", "--station", s.address, "--token-file",
        str(s.tmp_path / "token"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONSAFEPATH": "1"},
    )  # fmt: skip
    out, err = await cli.communicate()
    return cli.returncode, out.decode(), err.decode()


async def _metadata(s, scid):
    """The name in the first CFDP Metadata PDU up a spacecraft's link."""
    while True:
        args = await s.up(scid, "CFDP_PDU")
        pdu = decode(args["pdu"])
        if isinstance(pdu, Metadata):
            return pdu.dest_name


def test_files_and_a_job_reach_a_spacecraft_out_of_contact_by_one_in_contact(tmp_path):
    async def scenario():
        s = _Station(tmp_path)
        await s.start()
        (tmp_path / "token").write_text(s.token + "\n")
        (tmp_path / "token").chmod(0o600)
        (tmp_path / "corpus.txt").write_bytes(CORPUS)
        (tmp_path / "job.json").write_text(json.dumps(JOB))
        await s.radios[ALPHA].close()  # alpha is out of contact
        while s.station.link_up(ALPHA):
            await asyncio.sleep(0.01)
        seen = {"sent": await _relay_cli(
            s, "--spacecraft", "alpha", "--file", str(tmp_path / "corpus.txt"),
            "--command", "PING", "--submit", str(tmp_path / "job.json"), "--json",
        )}  # fmt: skip
        await s.down(BETA, "HOUSEKEEPING", _hk(), T0)  # beta's clock: the uplink's pace
        await s.down(BETA, "HOUSEKEEPING", _hk(), T0 + 1)
        seen["up beta"] = await _metadata(s, BETA)
        seen["named"] = [  # by beta's mission time now, each above the last
            await _relay_cli(s, "--spacecraft", "alpha", "--command", "PING", "--json")
            for _ in range(2)
        ]
        seen["via alpha"] = await _relay_cli(
            s, "--spacecraft", "alpha", "--via", "alpha", "--command", "PING"
        )
        seen["nonsense"] = await _relay_cli(s, "--spacecraft", "alpha", "--command", "FLY away=1")
        seen["nothing"] = await _relay_cli(s, "--spacecraft", "alpha")
        await s.radios[BETA].close()
        while s.station.link_up(BETA):
            await asyncio.sleep(0.01)
        seen["none up"] = await _relay_cli(s, "--spacecraft", "alpha", "--command", "PING")
        seen["archived"] = s.station.archive.commands(ALPHA)
        rows = audit_rows(s.station.archive.db, "relay")
        seen["audited"] = [(r.outcome, r.detail.get("via")) for r in rows]
        await s.stop()
        return seen

    seen = asyncio.run(scenario())
    code, out, err = seen["sent"]
    assert (code, err) == (0, ""), err
    answer = json.loads(out)
    assert answer["via"] == "beta" and answer["name"].startswith(f"uplink/{ALPHA}/c")
    assert len(answer["request_ids"]) == 2  # PING, SUBMIT_JOB
    assert seen["up beta"] == answer["name"]  # it went up beta's link, named for alpha

    # what went up authenticates under alpha's own keys, and only in its order
    kept = tmp_path / "state" / "alpha" / "consignments" / answer["name"].rsplit("/", 1)[1]
    read = read_consignment(kept, answer["name"], FileStore(tmp_path / "store"))
    [(name, staged)] = read.files
    assert (name, staged.read_bytes()) == ("corpus.txt", CORPUS)
    verifier = TcVerifier(
        load_keys(tmp_path / "alpha" / "flight.toml"), SecurityState(tmp_path / "security")
    )
    names = []
    for raw in [read.head, *read.packets]:
        verifier.check(raw)
        tc = parse_packet(raw)
        command, args = decode_command(replace(tc, app_data=tc.app_data[:-TRAILER_LEN]))
        names.append(command.name)
        if command.name == "CONSIGNMENT_ACCEPT":
            assert args == {"files": 1, "files_sha256": read.files_sha256}
        if command.name == "SUBMIT_JOB":
            assert args["manifest"]["inputs"] == ["corpus.txt"] and "signature" in args["manifest"]
    assert names == ["CONSIGNMENT_ACCEPT", "PING", "SUBMIT_JOB"]
    assert [bytes.fromhex(i) for i in answer["request_ids"]] == [p[:4] for p in read.packets]
    # named by mission time in microseconds (beta's latest telemetry, T0 + 1), above the last
    # (the first, before beta was heard, by the wall clock, which is before T0)
    named = [json.loads(out)["name"] for _, out, _ in seen["named"]]
    assert named == [f"uplink/{ALPHA}/c{(T0 + 1) * 1_000_000:.0f}",
                     f"uplink/{ALPHA}/c{(T0 + 1) * 1_000_000 + 1:.0f}"]  # fmt: skip
    archived = [(c.name, c.request_id.hex(), c.account) for c in seen["archived"]]
    assert archived[:2] == [("PING", answer["request_ids"][0], "ops"),
                            ("SUBMIT_JOB", answer["request_ids"][1], "ops")]  # fmt: skip
    assert [c.name for c in seen["archived"][2:]] == ["PING", "PING"]

    assert seen["audited"] == [
        ("queued", "beta"),
        ("queued", "beta"),
        ("queued", "beta"),
        ("refused: alpha's space link is down: it cannot carry it now", None),
        ("refused: no spacecraft of the fleet is in contact: nothing can carry it now", None),
    ]
    code, _, err = seen["via alpha"]
    down = "ground relay: alpha's space link is down: it cannot carry it now"
    assert (code, err.strip()) == (2, down)
    code, _, err = seen["nonsense"]
    assert code == 2 and len(err.strip().splitlines()) == 1 and "FLY" in err
    code, _, err = seen["nothing"]
    assert code == 2 and "at least one --file, --command or --submit" in err
    code, _, err = seen["none up"]
    assert code == 2 and "no spacecraft of the fleet is in contact" in err
