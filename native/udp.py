"""UDP in batches from the C core: many messages to one system call (Linux's recvmmsg and
sendmmsg), each message many datagrams where the socket has UDP GRO (coalesced on the way in)
and UDP GSO (a segment size on the way out). docs/native.md."""

from __future__ import annotations

import os
import socket
import sys

from native import _view
from native._native import ffi, lib

BATCH_MAX = lib.PN_UDP_BATCH_MAX
STRIDE = 1 << 17  # a slot holds a message of 64 KiB coalesced datagrams, and more


def _refused(result: int) -> OSError:
    return OSError(-result, os.strerror(-result))


def ipv4_address(address: tuple[str, int]) -> bytes:
    """An IPv4 socket address (struct sockaddr_in) for a send."""
    family = socket.AF_INET.to_bytes(2, sys.byteorder)
    port = address[1].to_bytes(2, "big")
    return family + port + socket.inet_aton(address[0]) + bytes(8)


class UdpBatch:
    """Receives into slots of its own (views valid until the next receive) and sends messages
    from the caller's buffers; OSError for what the kernel refuses (ENOSYS off Linux)."""

    def __init__(self, slots: int = 32) -> None:
        if not 0 < slots <= BATCH_MAX:
            raise ValueError(f"slots must be 1..{BATCH_MAX}")
        self._inbox = ffi.new("uint8_t[]", slots * STRIDE)
        self._view = memoryview(ffi.buffer(self._inbox))
        self._slots = slots
        self._lens = ffi.new("uint32_t[]", BATCH_MAX)
        self._segs = ffi.new("uint32_t[]", BATCH_MAX)
        self._from = ffi.new("uint8_t[]", 28)
        self._from_len = ffi.new("uint32_t *")

    def receive(self, fd: int) -> list[tuple[memoryview, int]]:
        """What waits, at most a slot's worth of messages: (octets, size), datagrams of ``size``
        octets back to back (the last may be shorter; one datagram: its own length)."""
        self._from_len[0] = len(self._from)
        n = lib.pn_udp_recv_batch(
            fd, self._inbox, STRIDE, self._slots, self._lens, self._segs, self._from,
            self._from_len,
        )  # fmt: skip
        if n < 0:
            raise _refused(n)
        view, lens, segs = self._view, self._lens, self._segs
        return [(view[i * STRIDE : i * STRIDE + lens[i]], segs[i] or lens[i]) for i in range(n)]

    def sender(self) -> tuple[str, int] | None:
        """Where the last message received came from (IPv4), if it said."""
        raw = bytes(ffi.buffer(self._from, self._from_len[0]))
        if len(raw) < 8 or int.from_bytes(raw[:2], sys.byteorder) != socket.AF_INET:
            return None
        return socket.inet_ntoa(raw[4:8]), int.from_bytes(raw[2:4], "big")

    def send(self, fd: int, messages: list[tuple[bytes, int]], to: bytes) -> int:
        """Send messages, (octets, GSO segment size or 0), at most BATCH_MAX, to the socket
        address ``to``: how many the socket took (0: no room now)."""
        messages = messages[:BATCH_MAX]
        n = len(messages)
        lens, segs = self._lens, self._segs
        for i, (data, segment) in enumerate(messages):
            lens[i] = len(data)
            segs[i] = segment
        bufs = [_view(data) for data, _ in messages]  # alive through the call
        sent = lib.pn_udp_send_batch(fd, bufs, lens, segs, n, to, len(to))
        if sent < 0:
            raise _refused(sent)
        return sent
