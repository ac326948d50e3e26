"""The emulated serial line: seeded faults, their cost in frames, outages that still drain."""

import asyncio
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import native
from flight.protocol.framing import Deframer, frame
from flight.protocol.packets import PacketError, parse_packet
from hil.serial_line import Direction, SerialLine
from hil.serial_link import PtyLink


def packets(n, size):
    return [
        native.pack_tm(
            apid=0x65,
            seq_count=i,
            service=3,
            subtype=25,
            msg_counter=i,
            dest_id=0x100,
            coarse_time=i,
            fine_time=0,
            time_synced=True,
            data=bytes((i * 7 + j) & 0xFF for j in range(size)),
        )
        for i in range(n)
    ]


def intact(data):
    out = []
    for raw in Deframer().feed(data):
        try:
            parse_packet(raw)
            out.append(raw)
        except PacketError:
            pass
    return out


@given(
    st.sampled_from(["flip", "drop", "insert", "delimiter"]),
    st.integers(0, 2**31),
    st.integers(1, 10),
    st.integers(0, 120),
)
def test_one_byte_fault_costs_at_most_two_frames(kind, seed, n, size):
    sent = packets(n, size)
    side = Direction("t", np.random.default_rng(seed))
    side.inject(kind)
    received = intact(side.apply(b"".join(frame(p) for p in sent)))
    assert sum(1 for p in sent if p not in received) <= 2
    assert side.faults_injected == 1


def test_same_seed_same_faults():
    data = bytes(range(256)) * 40
    outputs = []
    for _ in range(2):
        side = Direction("t", np.random.default_rng(42))
        side.set_ber(1e-3)
        side.inject("burst", 5)
        outputs.append(side.apply(data))
    assert outputs[0] == outputs[1] != data


def test_bit_error_rate_is_the_configured_one():
    side = Direction("t", np.random.default_rng(3))
    side.set_ber(1e-4)
    for _ in range(100):
        side.apply(bytes(100_000))
    assert side.bits_flipped == pytest.approx(8e7 * 1e-4, rel=0.05)


def test_drop_and_insert_change_the_length():
    drop = Direction("t", np.random.default_rng(1))
    drop.inject("drop", 3)
    insert = Direction("t", np.random.default_rng(1))
    insert.inject("insert", 3)
    assert len(drop.apply(bytes(100))) == 97 and drop.bytes_dropped == 3
    assert len(insert.apply(bytes(100))) == 103 and insert.bytes_inserted == 3


def test_outage_drains_the_payload_and_delivers_nothing():
    async def scenario():
        link = PtyLink.open()
        received = []
        line = SerialLine(link.master_fd, received.append, baud=None, seed=0)
        line.start()
        line.outage = True
        os.write(link.slave_fd, b"x" * 3000)  # the payload talks into the outage
        line.write(b"lost")
        for _ in range(50):
            await asyncio.sleep(0.01)
            if line.down.bytes_lost >= 3000:
                break
        line.outage = False
        os.write(link.slave_fd, b"after")
        for _ in range(50):
            await asyncio.sleep(0.01)
            if received:
                break
        line.stop()
        link.close()
        return line, received

    line, received = asyncio.run(scenario())
    assert line.down.bytes_lost == 3000 and line.up.bytes_lost == 4
    assert b"".join(received) == b"after"
