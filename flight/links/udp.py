"""A UDP link adapter: a high-rate optical or inter-satellite terminal reached over IP.

``udp://HOST:PORT`` names the far end when sending first (this end binds an ephemeral port) or
this end's address when listening (``listen=True``: the far end is learnt from the first datagram
that arrives, and replies go there). ``?rate=BPS`` paces what this end sends, never more than
2 ms of it back to back (a receiver's socket buffer of the system's default size holds fewer than
a hundred 1 KiB datagrams).

With ``batch=True`` the link moves datagrams many to a system call where Linux can: ``send``
gathers PDUs of one size (file data) and ``flush`` hands them over at once with UDP generic
segmentation offload (GSO, UDP_SEGMENT: the kernel, or the network card, cuts them into one
datagram each again); ``receive`` takes the datagrams the kernel coalesced on the way in (GRO,
UDP_GRO) in one call and cuts them apart. The far end sees the same datagrams either way. Where
the kernel refuses either, the link says so once on stderr and goes one datagram at a time.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import sys
from urllib.parse import parse_qs, urlsplit

from flight.links.base import BURST_S, TokenBucket

UDP_MTU = 65507
SOCKET_BUFFER = 64 << 20
RECEIVE_BATCH = 512
# Linux's socket options past net.core.[rw]mem_max (root only); Python does not name them.
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
# Linux's UDP segmentation offload (4.18) and receive coalescing (5.0); Python names neither.
UDP_SEGMENT = 103
UDP_GRO = 104
GSO_SEGMENTS = 64  # datagrams one send may carry (UDP_MAX_SEGMENTS of older kernels)
GSO_OCTETS = UDP_MTU  # and octets: one IP packet's worth
GRO_BUFFER = 1 << 17  # a coalesced read holds up to 64 KiB
GRO_POOL = 32  # such reads one receive_coalesced hands over, each read into a buffer of its own
_GSO_SIZE = struct.Struct("=H")
_GRO_SIZE = struct.Struct("=i")


class LinkUrlError(ValueError):
    """A link given in a form this adapter does not take."""


def parse_udp_url(url: str) -> tuple[tuple[str, int], float | None]:
    parts = urlsplit(url)
    if parts.scheme != "udp" or not parts.hostname or parts.port is None:
        raise LinkUrlError(f"{url!r}: expected udp://HOST:PORT[?rate=BITS_PER_S]")
    return (parts.hostname, parts.port), parse_rate(url, parse_qs(parts.query))


def parse_rate(url: str, query: dict[str, list[str]]) -> float | None:
    """A URL's ``rate`` (bits per second) where it gives one: a finite number above zero."""
    if "rate" not in query:
        return None
    try:
        rate = float(query["rate"][0])
    except ValueError:
        raise LinkUrlError(f"{url!r}: rate {query['rate'][0]!r} is not a number") from None
    if not 0 < rate < float("inf"):
        raise LinkUrlError(f"{url!r}: rate must be a finite number above zero")
    return rate


class UdpLink:
    def __init__(
        self,
        url: str,
        listen: bool = False,
        mtu: int = UDP_MTU,
        bind: tuple[str, int] | None = None,
        rate_bps: float | None = None,
        batch: bool = False,
    ) -> None:
        self.address, given = parse_udp_url(url)
        self.rate_bps = given or rate_bps  # the URL's rate, else the caller's default
        self.paced_by_default = given is None and rate_bps is not None
        self.name = url
        self.listen = listen
        self.bind = bind  # sending first: this end's address (None: any, an ephemeral port)
        self.mtu = mtu
        self.peer: tuple[str, int] | None = None if listen else self.address
        self.sock: socket.socket | None = None
        self.bucket = (
            TokenBucket(self.rate_bps, self.rate_bps / 8 * BURST_S) if self.rate_bps else None
        )
        self.pending: tuple[bytes, int] | None = None  # what the socket had no room for, and
        # its GSO segment size (0: one datagram)
        self.gso = self.gro = batch  # until the kernel says otherwise
        self.gathered: list[bytes] = []  # PDUs of one size, but the last, for one GSO send
        self.gathered_octets = 0
        self.inboxes = [memoryview(bytearray(GRO_BUFFER)) for _ in range(GRO_POOL if batch else 0)]
        self.dropped_full = 0

    def open(self) -> None:
        """Bind the socket (a listener at its address) and resolve the peer: OSError (an unknown
        host is socket.gaierror) when either cannot be done."""
        if self.peer is not None:  # resolved once here: never a look-up per datagram
            self.peer = socket.getaddrinfo(*self.peer, socket.AF_INET, socket.SOCK_DGRAM)[0][4]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for option, forced in (
            (socket.SO_RCVBUF, SO_RCVBUFFORCE),
            (socket.SO_SNDBUF, SO_SNDBUFFORCE),
        ):
            try:  # past the system's cap when running as root
                sock.setsockopt(socket.SOL_SOCKET, forced, SOCKET_BUFFER)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
        sock.bind(self.address if self.listen else self.bind or ("0.0.0.0", 0))
        sock.setblocking(False)
        self.sock = sock
        if self.gso:
            try:  # answers with the socket's segment size (0) where the kernel has GSO
                sock.getsockopt(socket.SOL_UDP, UDP_SEGMENT)
            except OSError as exc:
                self._no_batching("UDP GSO here", exc)
        if self.gro:
            try:
                sock.setsockopt(socket.SOL_UDP, UDP_GRO, 1)
            except OSError as exc:
                self.gro = False
                print(f"{self.name}: no UDP GRO here ({exc.strerror})", file=sys.stderr)

    def _no_batching(self, what: str, exc: OSError) -> None:
        self.gso = False
        print(f"{self.name}: no {what} ({exc.strerror}): one datagram a call", file=sys.stderr)

    def close(self) -> None:
        if self.sock is not None:
            self.flush()
            self.sock.close()
            self.sock = None

    @property
    def local_address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    @property
    def up(self) -> bool:
        return self.sock is not None and self.peer is not None

    def ready(self) -> bool:
        if self.pending is not None and not self._send_pending():
            return False
        return self.bucket is None or self.bucket.ready()

    def wait_hint(self) -> float:
        """How long a paced sender should wait: until half a burst is due, so that it wakes
        to send many PDUs at once (one GSO send) and a wake-up a little late loses nothing."""
        return self.bucket.wait(self.bucket.burst / 2) if self.bucket is not None else 0.0

    def _send_pending(self) -> bool:
        if not self._transmit(*self.pending):
            return False
        self.pending = None
        return True

    def send(self, pdu: bytes) -> None:
        if self.bucket is not None:
            self.bucket.take(len(pdu))
        if not self.gso:
            if not self._transmit(pdu, 0):
                self.pending = (pdu, 0)
            return
        gathered = self.gathered
        if gathered and (
            len(pdu) > len(gathered[0])  # GSO cuts at the first one's size: none longer
            or len(gathered[-1]) < len(gathered[0])  # and only the last one shorter
            or len(gathered) >= GSO_SEGMENTS
            or self.gathered_octets + len(pdu) > GSO_OCTETS
        ):
            self.flush()
        gathered.append(pdu)
        self.gathered_octets += len(pdu)

    def flush(self) -> None:
        """Hand what send() gathered to the kernel (batch=True); the owner calls this after each
        round of sends, and close() does."""
        gathered = self.gathered
        if not gathered:
            return
        if self.pending is not None and not self._send_pending():
            return  # the socket is full: ready() says so, and the gathered PDUs wait
        if len(gathered) == 1:
            data, segment = gathered[0], 0
        else:
            data, segment = b"".join(gathered), len(gathered[0])
        if not self._transmit(data, segment):
            self.pending = (data, segment)
        gathered.clear()
        self.gathered_octets = 0

    def _transmit(self, data: bytes, segment: int) -> bool:
        """One datagram (segment 0), or datagrams of ``segment`` octets cut by GSO; False when
        the socket has no room for it now."""
        try:
            if segment:
                gso = [(socket.SOL_UDP, UDP_SEGMENT, _GSO_SIZE.pack(segment))]
                self.sock.sendmsg([data], gso, 0, self.peer)
            else:
                self.sock.sendto(data, self.peer)
        except BlockingIOError:
            return False
        except OSError as exc:  # the far end not listening yet: the protocol repeats what matters
            if segment and exc.errno in (errno.EINVAL, errno.EIO, errno.EOPNOTSUPP):
                # GSO refused (a path whose MTU is below the segment, a device without it):
                # these go one by one, waiting for room, and every send after them too
                self._no_batching("UDP GSO on this path", exc)
                for at in range(0, len(data), segment):
                    while not self._transmit(data[at : at + segment], 0):
                        select.select([], [self.sock], [], 1.0)
            elif exc.errno not in (errno.ECONNREFUSED, errno.ENOBUFS):
                raise
        return True

    def receive(self, timeout: float) -> list[bytes]:
        out = []
        for data, size in self.receive_coalesced(timeout):  # each PDU its own bytes
            out += [bytes(data[at : at + size]) for at in range(0, len(data), size)]
        return out

    def receive_coalesced(self, timeout: float) -> list[tuple[bytes | memoryview, int]]:
        """What arrived as the kernel hands it over: (octets, size), datagrams of ``size``
        octets back to back (the last may be shorter; one datagram: its own length), waiting at
        most timeout seconds for the first. With GRO the octets are views of the link's own
        buffers, read in place and valid until the next call (fresh buffers each time would be
        mapped afresh, page by page, and a copy out costs what the read did)."""
        sock = self.sock
        out: list[tuple[bytes | memoryview, int]] = []
        datagrams = 0
        inboxes = self.inboxes
        try:
            while datagrams < RECEIVE_BATCH and len(out) < (len(inboxes) if self.gro else 1 << 30):
                if self.gro:
                    inbox = inboxes[len(out)]
                    n, ancillary, _, peer = sock.recvmsg_into([inbox], socket.CMSG_SPACE(4))
                    data = inbox[:n]
                    size = next(
                        (
                            _GRO_SIZE.unpack(value)[0]
                            for level, kind, value in ancillary
                            if level == socket.SOL_UDP and kind == UDP_GRO
                        ),
                        0,
                    )
                    size = size if 0 < size < len(data) else len(data)
                else:
                    data, peer = sock.recvfrom(65536)
                    size = len(data)
                out.append((data, size))
                datagrams += -(-len(data) // size) if size else 1
                if self.listen:
                    self.peer = peer
        except BlockingIOError:
            pass
        except ConnectionRefusedError:
            pass
        if not out and timeout > 0:
            if select.select([sock], [], [], timeout)[0]:
                return self.receive_coalesced(0)
        return out

    def fileno(self) -> int:
        return self.sock.fileno()
