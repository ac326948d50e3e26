"""No bytes from the payload's line and none from the space link stop the bench's bus: noise,
damaged and hostile telemetry (a forged SEQUENCE_FLOOR that would use up its sequence numbers,
requests for power it cannot give, packets of every kind with random data), and junk in frames
and junk frames from the station's side. After all of it the bus still ticks, signing each tick."""

import asyncio
import os
import random

from flight import dictionary as d
from flight.protocol.framing import Deframer, frame
from flight.protocol.messages import encode_event
from flight.protocol.packets import build_tm, parse_packet
from flight.security.keys import BUS_KEY_ID, new_key
from flight.security.tc_auth import TcSigner
from flight.spacelink.profile import DEFAULT_SCID, VC_FILES_UP
from hil.bus import BusEmulator
from hil.environment import Environment, EnvironmentConfig
from hil.serial_link import PtyLink
from native import uslp

START = 1_767_225_600.0


def _event(name: str, values: dict, rng: random.Random) -> bytes:
    kind, data = encode_event(name, values)
    seq = rng.randrange(1 << 14)
    return build_tm(d.APID_PAYLOAD, seq, kind.service, kind.subtype, data, msg_counter=0,
                    dest_id=d.SOURCE_GROUND, time=START, time_synced=True)  # fmt: skip


def _hostile(rng: random.Random) -> list[bytes]:
    out = [
        _event("SEQUENCE_FLOOR", {"key_id": BUS_KEY_ID, "floor": 2**64 - 2}, rng),
        _event("SEQUENCE_FLOOR", {"key_id": BUS_KEY_ID, "floor": 2**64 - 1}, rng),
        _event("GPU_POWER_REQUEST", {"action": int(d.GpuPower.CYCLE), "reason": "é" * 120}, rng),
    ]
    for _ in range(600):
        kind = rng.choice(d.TELEMETRY)
        packet = build_tm(d.APID_PAYLOAD, 0, kind.service, kind.subtype,
                          rng.randbytes(rng.choice([0, 2, 9, 80, 400])), msg_counter=0,
                          dest_id=rng.choice([0, 1, 0x100, 0xFFFF]), time=START,
                          time_synced=True)  # fmt: skip
        out += [packet, rng.randbytes(rng.randrange(1, 300))]
        damaged = bytearray(packet)
        damaged[rng.randrange(len(damaged))] ^= 0xFF
        out.append(bytes(damaged))
    return out


def test_hostile_bytes_on_both_sides_do_not_stop_the_bus(tmp_path):
    rng = random.Random(16)
    link = PtyLink.open()
    bus_key = new_key(BUS_KEY_ID, d.SOURCE_BUS, active=True)

    async def run():
        bus = BusEmulator(
            link.master_fd,
            start_time=START,
            environment=Environment(EnvironmentConfig(), START, 3600),
            signer=TcSigner(lambda: {BUS_KEY_ID: bus_key}, d.SOURCE_BUS),
        )
        await bus.start()
        for packet in _hostile(rng):  # from the payload's side of the line
            bus.serial._from_line(frame(packet) if rng.random() < 0.8 else packet)
        bus.serial._from_line(rng.randbytes(20_000) + b"\x00")
        _, radio = await asyncio.open_connection("127.0.0.1", bus.radio.port)
        for _ in range(300):  # from the station's side of the space link: junk in good frames
            junk = uslp.pack_frame(rng.randbytes(rng.randrange(1, 200)), scid=DEFAULT_SCID,
                                   vcid=VC_FILES_UP, bypass=1, dest=1)  # fmt: skip
            radio.write(uslp.cltu(junk))
            radio.write(uslp.cltu(rng.randbytes(rng.randrange(1, 200))))  # and junk frames
            radio.write(b"\xeb\x90" + rng.randbytes(rng.randrange(1, 200)))  # and junk units
        radio.write(rng.randbytes(50_000))
        await radio.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while bus.radio.tc_dropped < 250:  # the bus has taken in the station side's junk
            assert loop.time() < deadline, f"{bus.radio.tc_dropped} junk packets taken in"
            await asyncio.sleep(0.01)
        radio.transport.abort()
        before = bus.commands.signer.last
        for _ in range(3):
            bus.tick()
        os.set_blocking(link.slave_fd, False)
        deframer, ticks = Deframer(), []
        while ticks.count("BUS_TICK") < 3:  # the ticks cross the line to the payload
            assert loop.time() < deadline, f"only {ticks} reached the payload"
            try:
                data = os.read(link.slave_fd, 1 << 20)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            for raw in deframer.feed(data):
                packet = parse_packet(raw)
                ticks.append(d.COMMANDS_BY_TYPE[(packet.service, packet.subtype)].name)
        await bus.stop()
        return bus, before

    bus, before = asyncio.run(run())
    link.close()
    assert (
        bus.serial.tm_bad > 0 and bus.commands.signer.last < 2**63
    )  # the forged floor was ignored
    assert bus.commands.signer.last > before
