"""The ground station between real TCP peers: a client, and a test peer playing the bus radio."""

import asyncio
import contextlib

import pytest
from spacepackets.ecss.tc import PusTc

from flight import dictionary as d
from flight.protocol.loopback import loopback_packet
from flight.protocol.messages import encode_event, encode_telemetry
from flight.protocol.packets import build_tm
from flight.security.keys import load_keys, provision_keys, use_key
from flight.security.replay import SecurityState
from flight.security.tc_auth import TcVerifier
from flight.spacelink.profile import DEFAULT_SCID, VC_REALTIME
from ground.fleet import one_spacecraft
from hil.radio_endpoint import RadioEndpoint
from tests.ground.accounts import provision
from ground.client import CommandRefused, StationClient
from ground.accounts.store import AccountStore
from ground.station import Station


class Radio(RadioEndpoint):
    """The spacecraft end of the space link (hil/radio_endpoint.py), with the dictionary's
    telemetry to send down by name."""

    def downlink(self, name, values, dest=d.SOURCE_GROUND, time=100.0):
        self.write_frames([self.packet(name, values, dest, time)])

    @staticmethod
    def packet(name, values, dest=d.SOURCE_GROUND, time=100.0):
        if name in d.TELEMETRY_BY_NAME:
            kind, data = d.TELEMETRY_BY_NAME[name], encode_telemetry(name, values)[1]
        else:
            kind, data = encode_event(name, values)
        return build_tm(
            d.APID_PAYLOAD,
            0,
            kind.service,
            kind.subtype,
            data,
            msg_counter=0,
            dest_id=dest,
            time=time,
            time_synced=True,
        )


def _request_of(raw):
    """The request id fields a verification report about this telecommand carries."""
    return {
        "request_packet_id": int.from_bytes(raw[:2], "big"),
        "request_seq_ctrl": int.from_bytes(raw[2:4], "big"),
    }


async def serving(station, tmp_path):
    """The station serving clients on a free loopback port: its task, and its address once it
    listens."""
    task = asyncio.create_task(station.serve("127.0.0.1", 0, tmp_path / "port"))
    while not (tmp_path / "port").exists():
        await asyncio.sleep(0.01)
    return task, f"127.0.0.1:{(tmp_path / 'port').read_text().strip()}"


async def start(tmp_path, with_radio=True):
    radio = Radio()
    port = await radio.serve() if with_radio else 1
    keys = provision_keys(tmp_path / "keys").ground
    store, tokens = provision(tmp_path / "accounts", ops="admin")
    station = Station(
        f"127.0.0.1:{port}",
        one_spacecraft(DEFAULT_SCID, keys),
        tmp_path / "ground-state",
        accounts=AccountStore(store),
    )
    task, address = await serving(station, tmp_path)
    client = await StationClient.connect(address, tokens["ops"])
    if with_radio:
        await asyncio.wait_for(radio.connected.wait(), 5)
        while not client.link_up:
            await asyncio.sleep(0.01)
    return radio, station, task, client


async def stop(task, client, radio=None):
    await client.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if radio is not None:
        radio.server.close()
        if radio.writer is not None:
            radio.writer.close()
        await radio.server.wait_closed()


def test_commands_are_encoded_numbered_and_sent_up(tmp_path):
    async def scenario():
        radio, station, task, client = await start(tmp_path)
        first = await client.send("PING")
        second = await client.send("SUBMIT_JOB", {"manifest": {"id": "x", "command": ["y"]}})
        raw1 = await asyncio.wait_for(radio.uplinked.get(), 5)
        raw2 = await asyncio.wait_for(radio.uplinked.get(), 5)
        await stop(task, client, radio)
        return first, second, raw1, raw2, station

    first, second, raw1, raw2, station = asyncio.run(scenario())
    tc1, tc2 = PusTc.unpack(raw1), PusTc.unpack(raw2)
    assert (tc1.service, tc1.message_subtype, tc1.seq_count) == (17, 1, 0)
    assert (tc2.service, tc2.message_subtype, tc2.seq_count) == (140, 1, 1)
    assert tc1.source_id == d.SOURCE_GROUND and tc1.pus_tc_sec_header.ack_flags == 0b1001
    assert first == raw1[:4] and second == raw2[:4]
    assert station.craft[DEFAULT_SCID].tc_sent == 2
    on_board = TcVerifier(
        load_keys(tmp_path / "keys" / "flight.toml"), SecurityState(tmp_path / "s")
    )
    assert [on_board.check(raw).key_id for raw in (raw1, raw2)] == [256, 256]


def test_the_station_signs_with_the_key_its_file_names_now(tmp_path):
    async def scenario():
        radio, station, task, client = await start(tmp_path)
        await client.send("PING")
        use_key(tmp_path / "keys" / "ground.toml", 257)  # rotation: no restart
        await client.send("PING")
        (tmp_path / "keys" / "ground.toml").chmod(0o644)
        with pytest.raises(CommandRefused) as refused:
            await client.send("PING")
        sent = [await asyncio.wait_for(radio.uplinked.get(), 5) for _ in range(2)]
        await stop(task, client, radio)
        return sent, str(refused.value), station

    sent, refused, station = asyncio.run(scenario())
    on_board = TcVerifier(
        load_keys(tmp_path / "keys" / "flight.toml"), SecurityState(tmp_path / "s")
    )
    on_board.set_active(257, True)
    assert [on_board.check(raw).key_id for raw in sent] == [256, 257]
    assert "open to others (mode 0644)" in refused and station.craft[DEFAULT_SCID].tc_sent == 2


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("FOO", {}, "unknown command 'FOO'"),
        ("BUS_TICK", {"time": 1, "power_allowance_w": 1}, "not a ground command"),
        ("SUBMIT_JOB", {}, "missing argument: manifest"),
        ("PING", {"extra": 1}, "unknown argument(s): extra"),
    ],
)
def test_bad_commands_are_refused_before_anything_is_sent(tmp_path, name, args, message):
    async def scenario():
        radio, station, task, client = await start(tmp_path)
        with pytest.raises(CommandRefused) as err:
            await client.send(name, args)
        await client.send("NOOP")
        raw = await asyncio.wait_for(radio.uplinked.get(), 5)
        await stop(task, client, radio)
        return err.value, raw

    err, raw = asyncio.run(scenario())
    assert message in str(err)
    assert PusTc.unpack(raw).message_subtype == 1 and PusTc.unpack(raw).service == 128


def test_no_command_while_the_link_is_down(tmp_path):
    async def scenario():
        _, _, task, client = await start(tmp_path, with_radio=False)
        with pytest.raises(CommandRefused, match="space link down"):
            await client.send("PING")
        await stop(task, client)

    asyncio.run(scenario())


def test_verification_reports_complete_a_command(tmp_path):
    async def scenario():
        radio, _, task, client = await start(tmp_path)
        pending = asyncio.create_task(client.command("NOOP", timeout=5))
        raw = await asyncio.wait_for(radio.uplinked.get(), 5)
        request = _request_of(raw)
        other = {"request_packet_id": request["request_packet_id"], "request_seq_ctrl": 0xC999}
        radio.downlink("ACCEPTANCE_SUCCESS", other)  # someone else's command
        radio.downlink("ACCEPTANCE_SUCCESS", request)
        radio.downlink("COMPLETION_FAILURE", request | {"code": 22, "reason": "full"})
        result = await pending
        await stop(task, client, radio)
        return result

    result = asyncio.run(scenario())
    assert result.stages == ["ACCEPTANCE_SUCCESS", "COMPLETION_FAILURE"]
    assert not result.ok
    assert result.describe() == "NOOP failed at completion: QUEUE_FULL (full)"


def test_the_same_packet_live_again_goes_on_and_its_playback_does_not(tmp_path):
    """A payload started again sends the same first packets as its run before (time 0 before
    its time is synchronised, counters from 0): each is a new event and reaches the clients; a
    recording of it played back later does not (found on the flight computer VM: a second
    boot's CONTROLLER_STARTED never reached the ground)."""

    async def scenario():
        radio, station, task, client = await start(tmp_path)
        queue = client.subscribe()
        started = []
        for _ in range(2):
            radio.downlink("CONTROLLER_STARTED", {"version": "1.0"})
            tm = await client.await_telemetry(lambda t: t.name == "CONTROLLER_STARTED", 5, queue)
            started.append(tm.packet)
        recorded = radio.packet("CONTROLLER_STARTED", {"version": "1.0"})
        station.craft[DEFAULT_SCID].telemetry(recorded, playback=True)  # its recording, played back
        radio.downlink("PING_REPORT", {})
        after = await client.await_telemetry(lambda t: True, 5, queue)
        await stop(task, client, radio)
        return started, after

    started, after = asyncio.run(scenario())
    assert started[0] == started[1]  # the same octets, delivered twice
    assert after.name == "PING_REPORT"  # nothing of the playback came before it


def test_the_client_lists_the_files_the_station_received(tmp_path):
    async def scenario():
        radio, station, task, client = await start(tmp_path)
        assert await client.files() == []
        (station.craft[DEFAULT_SCID].files.files_dir / "j").mkdir(parents=True)
        (station.craft[DEFAULT_SCID].files.files_dir / "j" / "out.txt").write_bytes(b"result")
        station.craft[DEFAULT_SCID].files.received(
            "j/out.txt", 6, "NO_ERROR", True
        )  # its RESULTS.json to come
        station.craft[DEFAULT_SCID].files.received("lost.bin", None, "NAK_LIMIT", False)
        listed = await client.files()
        await stop(task, client, radio)
        return listed

    listed = {f["name"]: f for f in asyncio.run(scenario())}
    assert (listed["j/out.txt"]["size"], listed["j/out.txt"]["check"]) == (6, "pending")
    assert listed["j/out.txt"]["delivered"] and not listed["lost.bin"]["delivered"]
    assert listed["lost.bin"]["condition"] == "NAK_LIMIT"


@pytest.mark.parametrize("echo", [True, False])
def test_loopback_packets_come_back_only_when_asked_after_what_came_before(tmp_path, echo):
    async def scenario():
        radio, station, task, client = await start(tmp_path)
        station.echo_idle = echo
        hk = radio.packet("PING_REPORT", {})
        frames = radio.link.down(hk, VC_REALTIME) + [f for _, f in radio.link.flush()]
        frames.append(radio.link.idle_frame(loopback_packet(7)))
        radio.writer.write(b"".join(radio.link.cadu(f) for f in frames))
        got = await client.await_telemetry(lambda tm: tm.name == "PING_REPORT", 5)
        back = None
        if echo:
            back = await asyncio.wait_for(radio.uplinked.get(), 5)
        else:  # nothing comes back: a PING goes up, and it is the first thing up
            await client.send("PING")
            back = await asyncio.wait_for(radio.uplinked.get(), 5)
        await stop(task, client, radio)
        return got, back

    got, back = asyncio.run(scenario())
    assert got.name == "PING_REPORT"
    assert (back == loopback_packet(7)) is echo


def test_transfers_in_progress_are_listed_with_their_progress(tmp_path):
    """An upload waits for the spacecraft's clock (telemetry) to pace it; the station lists it
    with its size and the octets sent so far, which grow as spacecraft time goes on."""
    from tests.ground.test_archive import hk

    async def scenario():
        radio, station, task, client = await start(tmp_path)
        upload = tmp_path / "up.bin"
        upload.write_bytes(bytes(range(256)) * 400)
        await client.upload(str(upload), "inputs/up.bin")
        before = await client.transfers()
        radio.downlink("HOUSEKEEPING", hk(uptime_s=1))  # spacecraft time 100 s: a budget
        for _ in range(500):
            after = await client.transfers()
            if after and after[0]["octets"] > 0:
                break
            await asyncio.sleep(0.01)
        await stop(task, client, radio)
        return before, after

    before, after = asyncio.run(scenario())
    assert before == [{"direction": "up", "seq_num": before[0]["seq_num"], "name": "inputs/up.bin",
                       "size": 102_400, "octets": 0, "state": "SENDING"}]  # fmt: skip
    assert 0 < after[0]["octets"] < 102_400 and after[0]["name"] == "inputs/up.bin"


def test_a_report_to_the_bus_is_not_taken_for_a_ground_commands(tmp_path):
    """The bus's ticks share the payload's APID, so a report about one (addressed to the bus)
    can carry a ground command's request id: the client takes only reports to the ground."""

    async def scenario():
        radio, station, task, client = await start(tmp_path)
        waiting = asyncio.create_task(client.command("PING", timeout=10))
        raw = await asyncio.wait_for(radio.uplinked.get(), 5)
        request = _request_of(raw)
        replay = {"code": int(d.FailureCode.AUTH_REPLAY), "reason": "a bus tick's number"}
        radio.downlink("ACCEPTANCE_FAILURE", request | replay, dest=d.SOURCE_BUS)
        radio.downlink("COMPLETION_SUCCESS", request)
        result = await waiting
        await stop(task, client, radio)
        return result

    result = asyncio.run(scenario())
    assert result.ok and result.stages == ["COMPLETION_SUCCESS"]
