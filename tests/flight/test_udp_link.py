"""The UDP link adapter's batching over real sockets on loopback: PDUs of one size gathered and
handed to the kernel at once (UDP GSO), coalesced datagrams taken in at once (UDP GRO), and the
far end seeing the same datagrams, in order, whether it batches or not."""

from __future__ import annotations

import os
import socket
import sys
import time

import pytest

from flight.links.udp import GSO_OCTETS, UDP_GRO, UdpLink


def pdus() -> list[bytes]:
    """Directives and file data as a sender makes them: a short PDU, 150 of one size, a short
    last one, another short one."""
    return [os.urandom(24)] + [os.urandom(1042) for _ in range(150)] + [os.urandom(300), b"x" * 9]


def receive_all(link: UdpLink, count: int) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + 10
    while len(got) < count and time.monotonic() < deadline:
        got += link.receive(0.5)
    return got


@pytest.fixture
def listener():
    link = UdpLink("udp://127.0.0.1:0", listen=True, batch=True)
    link.open()
    yield link
    link.close()


def sender_to(port: int, batch: bool) -> UdpLink:
    link = UdpLink(f"udp://127.0.0.1:{port}", batch=batch)
    link.open()
    return link


@pytest.mark.parametrize("batch", [True, False])
def test_what_one_end_sends_the_other_receives_whole_and_in_order(listener, batch):
    tx = sender_to(listener.local_address[1], batch)
    sent = pdus()
    for pdu in sent:
        tx.send(pdu)
    tx.flush()
    assert receive_all(listener, len(sent)) == sent
    tx.close()


def test_a_receiver_that_takes_one_datagram_a_call_gets_them_cut_apart_by_the_kernel():
    rx = UdpLink("udp://127.0.0.1:0", listen=True)
    rx.open()
    tx = sender_to(rx.local_address[1], True)
    sent = pdus()
    for pdu in sent:
        tx.send(pdu)
    tx.close()  # what was gathered goes on closing
    assert receive_all(rx, len(sent)) == sent
    rx.close()


def test_pdus_of_one_size_leave_in_one_send_as_many_as_one_ip_packet_holds():
    """A plain socket that accepts coalesced datagrams sees the GSO send whole: on loopback the
    kernel never cuts it (a network card would)."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_UDP, UDP_GRO, 1)
    tx = sender_to(rx.getsockname()[1], True)
    if not tx.gso:
        pytest.skip("this kernel has no UDP GSO")
    file_data = [os.urandom(1042) for _ in range(GSO_OCTETS // 1042)]  # 62
    for pdu in file_data:
        tx.send(pdu)
    tx.send(b"EOF")  # shorter: it rides along as the last datagram
    tx.send(b"ACK")  # and the next one goes in a send of its own
    tx.flush()
    data, ancillary, _, _ = rx.recvmsg(1 << 17, socket.CMSG_SPACE(4))
    assert data == b"".join(file_data) + b"EOF"
    assert [(level, kind) for level, kind, _ in ancillary] == [(socket.SOL_UDP, UDP_GRO)]
    assert int.from_bytes(ancillary[0][2], sys.byteorder) == 1042
    assert rx.recv(100) == b"ACK"
    tx.close()
    rx.close()


def test_pdus_of_many_sizes_leave_many_to_a_system_call_and_arrive_in_order(listener):
    """Each longer than the one before, so GSO joins none: sendmmsg still hands the kernel up to
    64 of them a call, and recvmmsg takes up to 32 a call at the far end."""
    tx = sender_to(listener.local_address[1], True)
    calls = []
    send = tx.batch.send
    tx.batch.send = lambda *a: calls.append(len(a[1])) or send(*a)
    sent = [os.urandom(100 + 3 * i) for i in range(300)]
    for pdu in sent:
        tx.send(pdu)
    tx.flush()
    assert len(calls) <= 8 and max(calls) == 64
    got: list[bytes] = []
    reads = []
    deadline = time.monotonic() + 10
    while len(got) < len(sent) and time.monotonic() < deadline:
        messages = listener.receive_coalesced(0.5)
        reads.append(len(messages))
        got += [bytes(data[at : at + n]) for data, n in messages for at in range(0, len(data), n)]
    assert got == sent
    assert max(reads) > 1  # many a call
    tx.close()


def test_a_gso_message_the_path_refuses_goes_again_one_datagram_a_message(listener, capfd):
    """Two 60 000-octet datagrams are more than one IP packet holds: the kernel refuses the GSO
    message, and the link says so once and sends its datagrams one by one, and GSO no more."""
    tx = sender_to(listener.local_address[1], True)
    if not tx.gso:
        pytest.skip("this kernel has no UDP GSO")
    first, second = os.urandom(60_000), os.urandom(60_000)
    tx.outbox.append((first + second, 60_000))
    tx.send(b"after")
    tx.flush()
    assert not tx.gso
    assert "no UDP GSO on this path" in capfd.readouterr().err
    assert receive_all(listener, 3) == [first, second, b"after"]
    tx.close()


def test_a_run_of_pdus_goes_from_its_own_buffer_in_few_messages_and_arrives_whole(listener):
    """New file data as a sender hands it over (``send_run``): 200 PDUs of 1042 octets back to
    back, the last shorter, leave as GSO messages of as many as one IP packet holds, read in
    place, and arrive as the same datagrams in order."""
    stride = 1042
    sent = [os.urandom(stride) for _ in range(199)] + [os.urandom(500)]
    link = sender_to(listener.local_address[1], batch=True)
    try:
        room = link.run_room(stride)
        assert room >= 200
        link.send_run(memoryview(b"".join(sent)), stride)
        per = GSO_OCTETS // stride
        if link.gso:  # 62 PDUs a message, as many messages as carry 200
            assert [len(m) // stride + (len(m) % stride > 0) for m, _ in link.outbox] == [
                per,
                per,
                per,
                200 - 3 * per,
            ]
        link.flush()
        assert receive_all(listener, len(sent)) == sent
    finally:
        link.close()


def test_a_paced_or_unbatched_link_takes_runs_of_what_the_pace_allows_or_none():
    paced = UdpLink("udp://127.0.0.1:9?rate=8000000", batch=True)  # 1 MB/s: bursts of 2 ms
    assert paced.run_room(1000) == 2  # a full burst
    assert paced.run_room(5000) == 1  # never none: one PDU at least
    paced.bucket.take(1500)
    assert paced.run_room(400) == 1  # what is left of the burst now
    assert UdpLink("udp://127.0.0.1:9", batch=False).run_room(1000) == 0
