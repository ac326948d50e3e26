"""Nothing from the space link and no client on the station's TCP port stops the ground station:
noise, damaged and hostile packets and PDUs down the link; junk, hostile requests (before
authenticating, and after), a client that never reads and clients that vanish mid-frame on the
client port. After all of it, a good client is still served: its command goes up, telemetry comes
down to it, and no request ran into a defect."""

import asyncio
import random

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight import dictionary as d
from flight.cfdp import pdu as P
from flight.protocol.framing import frame
from flight.protocol.packets import build_tm
from flight.spacelink.profile import DEFAULT_SCID, VC_REALTIME, LinkProfile
from ground.fleet import one_spacecraft
from ground.space_link import UNKNOWN
from hil.space_link import SpacecraftLink
from native import uslp
from ground.messages import encode_message, read_messages
from tests.ground.accounts import open_session, provision
from tests.ground.test_station import start, stop


def _whole(blob: bytes) -> bytes:
    """Any octets made into one space packet by their length field (as frames carry them)."""
    blob = blob.ljust(7, b"\0")
    return blob[:4] + (len(blob) - 7).to_bytes(2, "big") + blob[6:]


def _bad_frames(rng: random.Random, link: SpacecraftLink) -> list[bytes]:
    """What a broken radio or a hostile sender might put on the link instead of good frames:
    noise, damaged frames, another spacecraft's, repeated and cut ones."""
    good = link.down(_whole(bytes(4000)), VC_REALTIME)
    damaged = bytearray(link.cadu(good[0]))
    damaged[40] ^= 0x10
    stranger = SpacecraftLink(LinkProfile(DEFAULT_SCID + 1))
    return [
        rng.randbytes(20_000),
        bytes(damaged),
        link.cadu(good[1]) * 2,  # the same frame count twice: out of sequence
        stranger.cadu(stranger.down(_whole(bytes(2000)), VC_REALTIME)[0]),
        link.cadu(good[0])[:300],  # cut short: the next marker is inside it
        uslp.ASM + rng.randbytes(5000),
    ]


def _packets(rng: random.Random) -> list[bytes]:
    """Telemetry the way a broken or hostile spacecraft might send it."""
    out = []
    for _ in range(400):
        kind = rng.choice(d.TELEMETRY)
        data = rng.randbytes(rng.choice([0, 1, 7, 64, 300]))
        stamp = rng.uniform(0, 2**32 - 1)
        packet = build_tm(d.APID_PAYLOAD, rng.randrange(1 << 14), kind.service, kind.subtype,
                          data, msg_counter=0, dest_id=d.SOURCE_GROUND, time=stamp,
                          time_synced=rng.random() < 0.5)  # fmt: skip
        out.append(packet)
        flipped = bytearray(packet)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        out.append(_whole(bytes(flipped)))
        out.append(_whole(rng.randbytes(rng.randrange(1, 200))))
    header = P.Header(source_id=1, seq_num=7, dest_id=2)
    for _ in range(100):  # CFDP PDUs inside CFDP_PDU packets, damaged on the way
        metadata = bytearray(
            P.encode(P.Metadata(header, 1000, "src", "dst", P.ChecksumType.CRC32C, True))
        )
        for _ in range(rng.randrange(4)):
            metadata[rng.randrange(len(metadata))] = rng.randrange(256)
        pdu = bytes(metadata[: rng.randrange(1, len(metadata) + 1)])
        data = len(pdu).to_bytes(2, "big") + pdu
        out.append(build_tm(d.APID_PAYLOAD, 1, 210, 1, data, msg_counter=0,
                            dest_id=d.SOURCE_GROUND, time=100.0, time_synced=True))  # fmt: skip
    return out


HOSTILE_REQUESTS = [
    {"op": "command", "ref": 1, "name": 5, "args": {}},
    {"op": "command", "ref": [1, [2, {}]], "name": "PING", "args": {1: 2, "x": None}},
    {"op": "command", "ref": 2**64 - 1, "name": "CANCEL_JOB", "args": {"job_id": "é" * 300}},
    {"op": "command", "ref": 3, "name": "SUBMIT_JOB", "args": {"manifest": {1: b"x", "id": [1]}}},
    {"op": "command", "ref": 4, "name": "SUBMIT_JOB", "args": {"manifest": "not a map"}},
    {"op": "command", "ref": 5, "name": "BUS_TICK", "args": {}},
    {"op": "command", "ref": 6, "name": "NOOP", "args": []},
    {"op": "upload", "ref": 7, "path": "/etc/passwd\x00", "dest": "x"},
    {"op": "upload", "ref": 8, "path": "/etc/hostname", "dest": "y" * 1000},
    {"op": "upload", "ref": 9, "path": "/etc/hostname", "dest": "a\x00b"},
    {"op": "upload", "ref": 10, "path": 7, "dest": {}},
    {"op": "upload", "ref": 11, "path": "/", "dest": "root"},
    {"op": "nonsense", "ref": 12},
    {},
]


def test_hostile_link_and_clients_do_not_stop_the_station(tmp_path):
    rng = random.Random(16)

    async def run():
        radio, station, task, client = await start(tmp_path)
        port = int((tmp_path / "port").read_text())
        token = station.accounts.issue_token("ops")[1]
        # a client that never reads, and clients that send junk and vanish mid-frame
        idle_reader, idle_writer = await open_session(port, token)
        for junk in (rng.randbytes(5000), b"\x00" * 100, b"\x05\x01" * 40_000, b"\xff" * 70_000):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(junk)
            await writer.drain()
            writer.transport.abort()
        _, stranger = await asyncio.open_connection("127.0.0.1", port)  # no credentials
        hostile_reader, hostile = await open_session(port, token)  # an operator's token
        for writer in (stranger, hostile):
            for request in HOSTILE_REQUESTS:
                writer.write(encode_message(request))
            writer.write(frame(msgpack.packb([1, 2, 3])) + frame(b"\xc1") + frame(b"\x91" * 3000))
            await writer.drain()
        # a connection's requests are answered in order: once this one is, all of them were
        hostile.write(encode_message({"op": "files", "ref": "last"}))
        async for answer in read_messages(hostile_reader):
            if answer.get("ref") == "last":
                break
        # the link: hostile packets in good frames, frames that are not good, noise; then more
        # than an unread client may hold
        for i, packet in enumerate(_packets(rng)):
            radio.write_frames([packet], vc=i % 3)
        for junk in _bad_frames(rng, radio.link):
            radio.writer.write(junk)
        await radio.writer.drain()
        big = build_tm(d.APID_PAYLOAD, 0, 3, 25, bytes(3000), msg_counter=0,
                       dest_id=d.SOURCE_GROUND, time=5.0, time_synced=True)  # fmt: skip
        for i in range(0, 9000, 500):  # ~27 MB of telemetry to clients: the idle one falls behind
            radio.write_frames(
                [big[:-4] + n.to_bytes(2, "big") + big[-2:] for n in range(i, i + 500)]
            )
            await radio.writer.drain()
            await asyncio.sleep(0)
        # a good client is served: its command goes up and telemetry reaches it
        deadline = asyncio.get_running_loop().time() + 60
        while station.clients_dropped == 0:
            assert asyncio.get_running_loop().time() < deadline, "the idle client was kept"
            await asyncio.sleep(0.05)
        request_id = await client.send("NOOP")
        while (await asyncio.wait_for(radio.uplinked.get(), 30))[:4] != request_id:
            pass  # what the hostile requests sent up before it
        events = client.subscribe()
        radio.downlink("PING_REPORT", {})
        tm = await client.await_telemetry(lambda t: t.name == "PING_REPORT", 30, events)
        assert tm.name == "PING_REPORT"
        assert not task.done(), "the station stopped"
        assert station.client_errors == 0, "a client's request ran into a defect"
        assert station.link_errors == 0, "the space link's octets ran into a defect"
        (link,) = station.links.values()
        counts = link.frames.counters
        assert counts[(UNKNOWN, VC_REALTIME)]["unknown_scid"] >= 1
        assert counts[(DEFAULT_SCID, VC_REALTIME)]["frame_CRC"] >= 1
        assert counts[(DEFAULT_SCID, VC_REALTIME)]["count_gaps"] >= 1
        assert link.frames.sync_lost >= 20_000
        idle_writer.transport.abort()
        hostile.transport.abort()
        stranger.transport.abort()
        await stop(task, client, radio)

    asyncio.run(run())


_VALUES = st.one_of(
    st.text(max_size=300),
    st.integers(),
    st.binary(max_size=50),
    st.none(),
    st.dictionaries(st.text(max_size=5), st.integers()),
)
_REQUEST_VALUES = st.one_of(
    st.sampled_from(["command", "upload", "PING", "SUBMIT_JOB", "CANCEL_JOB", "CFDP_PDU"]),
    st.text(max_size=300),
    st.binary(max_size=50),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.one_of(st.text(max_size=20), st.integers()), _VALUES, max_size=4),
)
_KEYS = st.sampled_from(["op", "ref", "name", "args", "path", "dest"])


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(message=st.dictionaries(_KEYS, _REQUEST_VALUES, max_size=6))
def test_any_request_is_answered_without_a_defect(tmp_path_factory, message):
    """Every request a client can send is answered or ignored, never a defect."""
    from flight.security.keys import provision_keys
    from ground.accounts.store import AccountStore
    from ground.gatekeeper import Session
    from ground.station import Station

    tmp = tmp_path_factory.mktemp("st")
    store = AccountStore(provision(tmp / "accounts", ops="admin")[0])
    keys = provision_keys(tmp / "keys").ground
    station = Station(
        "127.0.0.1:1", one_spacecraft(DEFAULT_SCID, keys), tmp / "state", accounts=store
    )
    session = Session(store.account("ops"), store.tokens("ops")[0].token_id, "127.0.0.1:1")
    answer = station._answer(session, None, message)
    assert station.client_errors == 0, answer
    if answer is not None:
        encode_message(answer)  # what the client gets back always encodes
