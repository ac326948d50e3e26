"""Files routed across the laser mesh: a result one spacecraft made that another brings down
(``relay/ORIGIN/NAME``) is filed under the spacecraft that made it, checked against its
RESULTS.json there, told to the clients once with the spacecraft it came through, and kept once
when it comes down again by another way; one that cannot be filed there is kept, and listed,
under the spacecraft that brought it down. A real station, real space links (the test's radios)
and a real CFDP sender on the relaying spacecraft."""

import asyncio
import hashlib
import json

from flight.cfdp.entity import Entity
from flight.cfdp.mib import EntityConfig
from flight.downlink.service import FLIGHT_ENTITY
from ground.client import StationClient
from tests.ground.test_broker import _hk, _Station
from tests.ground.test_fleet import ALPHA, BETA

RESULT = b"the model's weights" * 1000
RESULTS = json.dumps({"job_id": "j", "results": [
    {"path": "out.bin", "priority": 0, "size": len(RESULT),
     "sha256": hashlib.sha256(RESULT).hexdigest()},
]}).encode()  # fmt: skip


class _Pdus:
    """A payload's downlink as far as its CFDP entity sees it: the PDUs it sends."""

    name, mtu, rate_bps, up = "test", 1024, None, True

    def __init__(self):
        self.sent = []

    def open(self):
        pass

    def close(self):
        pass

    def ready(self):
        return True

    def send(self, pdu):
        self.sent.append(pdu)

    def receive(self, timeout):
        return []


async def _send(tmp_path, station, scid, names, t):
    """A payload sends files of tmp_path (class 1) down its own link: (file, name) each."""
    link = _Pdus()
    entity = Entity(EntityConfig(FLIGHT_ENTITY), link, None, clock=lambda: t)
    for source, name in names:
        entity.put(tmp_path / source, name, remote_id=2, acknowledged=False)
    while entity.busy:
        entity.poll()
    for pdu in link.sent:
        station.radios[scid].downlink("CFDP_PDU", {"pdu": pdu}, time=t)
    await station.down(scid, "HOUSEKEEPING", _hk(), t + 1)  # all of it taken in


async def _started(tmp_path, files, told):
    """A station started, ``files`` (name: octets) written for the payloads to send, and the
    files it tells its clients of collected in ``told``."""
    for name, octets in files.items():
        (tmp_path / name).write_bytes(octets)
    station = _Station(tmp_path)
    await station.start()
    station.client.station_listeners.append(
        lambda m: told.append(m) if m.get("op") == "file" else None
    )
    return station


def test_a_file_brought_down_by_another_spacecraft_is_filed_under_its_maker(tmp_path):
    files_told = []

    async def send(station, scid, names, t):
        await _send(tmp_path, station, scid, names, t)

    async def scenario():
        files = {"out.bin": RESULT, "RESULTS.json": RESULTS}
        station = await _started(tmp_path, files, files_told)
        relayed = [("out.bin", f"relay/{ALPHA}/j/out.bin"),
                   ("RESULTS.json", f"relay/{ALPHA}/j/RESULTS.json")]  # fmt: skip
        await send(station, BETA, relayed, 1000.0)
        await send(station, BETA, relayed[:1], 1100.0)  # the same result, again
        alpha_files = station.station.craft[ALPHA].files.files_dir
        (alpha_files / "k").write_bytes(b"in the way")  # where k/out.bin would go
        await send(station, BETA, [("out.bin", f"relay/{ALPHA}/k/out.bin")], 1200.0)
        alpha_client = await StationClient.connect(station.address, station.token, spacecraft=ALPHA)
        listed = await alpha_client.files()
        await alpha_client.close()
        alpha = station.station.craft[ALPHA]
        kept = (alpha.files.files_dir / "j" / "out.bin").read_bytes()
        beta_files = sorted(p.name for p in station.station.craft[BETA].files.files_dir.rglob("*")
                            if p.is_file())  # fmt: skip
        repeated = alpha.files_repeated
        await station.stop()
        return listed, kept, beta_files, repeated

    listed, kept, beta_files, repeated = asyncio.run(scenario())
    assert kept == RESULT and beta_files == ["out.bin"]  # k/out.bin: kept where it came down
    ours = {f["name"]: f for f in listed}
    assert ours["j/out.bin"]["check"] == "verified" and set(ours) == {"j/out.bin", "j/RESULTS.json"}
    told = [(m["spacecraft"], m["name"], m.get("via"), m["check"]) for m in files_told]
    assert sorted(told) == [(ALPHA, "j/RESULTS.json", BETA, "cfdp"),
                            (ALPHA, "j/out.bin", BETA, "pending"),
                            (BETA, f"relay/{ALPHA}/k/out.bin", None, "pending")]  # fmt: skip
    assert repeated == 1


def test_a_file_of_downlink_file_is_filed_under_its_path_whichever_way_it_came(tmp_path):
    """DOWNLINK_FILE on a payload with a relay names the file by its content
    (``_file/DIGEST/PATH``): down its own link or across the mesh, the ground files it under
    PATH, a later version over the earlier, the same content once."""
    first, second = b"log, first part\n" * 100, b"log, both parts\n" * 200
    d1, d2 = (hashlib.sha256(x).hexdigest()[:16] for x in (first, second))
    files_told = []

    async def scenario():
        station = await _started(tmp_path, {"first": first, "second": second}, files_told)
        alpha = station.station.craft[ALPHA]
        await _send(tmp_path, station, ALPHA, [("first", f"_file/{d1}/logs/run.log")], 1000.0)
        kept = [(alpha.files.files_dir / "logs" / "run.log").read_bytes()]
        relayed = f"relay/{ALPHA}/_file/{d2}/logs/run.log"
        await _send(tmp_path, station, BETA, [("second", relayed)], 1100.0)
        kept.append((alpha.files.files_dir / "logs" / "run.log").read_bytes())
        await _send(tmp_path, station, ALPHA, [("second", f"_file/{d2}/logs/run.log")], 1200.0)
        await _send(tmp_path, station, ALPHA, [("first", "_file/not-a-digest/x.log")], 1300.0)
        await _send(tmp_path, station, ALPHA, [("second", f"_file/{d2}-1/logs/run.log")], 1400.0)
        await _send(tmp_path, station, ALPHA, [("first", f"_file/{d1}-01/y.log")], 1500.0)
        leftover = sorted(
            p.relative_to(alpha.files.files_dir).as_posix()
            for p in alpha.files.files_dir.rglob("*") if p.is_file()
        )  # fmt: skip
        repeated = alpha.files_repeated
        await station.stop()
        return kept, leftover, repeated

    kept, leftover, repeated = asyncio.run(scenario())
    assert kept == [first, second]
    # not snapshots' names: filed as named
    assert leftover == [f"_file/{d1}-01/y.log", "_file/not-a-digest/x.log", "logs/run.log"]
    told = [(m["spacecraft"], m["name"], m.get("via")) for m in files_told]
    assert told == [(ALPHA, "logs/run.log", None), (ALPHA, "logs/run.log", BETA),
                    (ALPHA, "_file/not-a-digest/x.log", None),
                    (ALPHA, f"_file/{d1}-01/y.log", None)]  # fmt: skip
    assert repeated == 2  # the second version again by alpha's own link, and sent anew
