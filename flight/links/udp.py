"""A UDP link adapter: a high-rate optical or inter-satellite terminal reached over IP.

``udp://HOST:PORT`` names the far end when sending first (this end binds an ephemeral port) or
this end's address when listening (``listen=True``: the far end is learnt from the first datagram
that arrives, and replies go there). ``?rate=BPS`` paces what this end sends, never more than
2 ms of it back to back (a receiver's socket buffer of the system's default size holds fewer than
a hundred 1 KiB datagrams).

With ``batch=True`` the link moves datagrams many to a system call, through the C core
(``native.udp``): ``send`` gathers PDUs, those of one size (file data) into one message that UDP
generic segmentation offload (GSO, UDP_SEGMENT) cuts into one datagram each again, and ``flush``
hands up to 64 messages to the kernel in one sendmmsg; ``receive`` takes up to 32 messages in
one recvmmsg, each of them the datagrams the kernel coalesced on the way in (GRO, UDP_GRO), and
cuts them apart. The far end sees the same datagrams either way. Where the kernel refuses GSO or
GRO, the link says so once on stderr and carries one datagram a message; where it has no
recvmmsg and sendmmsg (not Linux), one datagram a system call.
"""

from __future__ import annotations

import errno
import select
import socket
import sys
from collections import deque
from itertools import islice
from urllib.parse import parse_qs, urlsplit

from flight.links.base import BURST_S, TokenBucket
from native.udp import BATCH_MAX, UdpBatch, ipv4_address

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
        self._peer_address: tuple[tuple[str, int] | None, bytes] = (None, b"")
        self.sock: socket.socket | None = None
        self.bucket = (
            TokenBucket(self.rate_bps, self.rate_bps / 8 * BURST_S) if self.rate_bps else None
        )
        # Messages the socket had no room for yet, each with its GSO segment size (0: one
        # datagram); a run's are views of the sender's buffer.
        self.outbox: deque[tuple[bytes | memoryview, int]] = deque()
        self.batch = UdpBatch() if batch else None
        self.gso = self.gro = batch  # until the kernel says otherwise
        self.gathered: list[bytes] = []  # PDUs of one size, but the last, for one GSO message
        self.gathered_octets = 0

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
        if self.batch is not None:
            try:  # nothing waits yet: this only asks whether the system has recvmmsg
                self.batch.receive(sock.fileno())
            except OSError as exc:
                self.batch = None
                self.gso = self.gro = False
                print(
                    f"{self.name}: no recvmmsg here ({exc.strerror}): one datagram a call",
                    file=sys.stderr,
                )
        if self.gso:
            try:  # answers with the socket's segment size (0) where the kernel has GSO
                sock.getsockopt(socket.SOL_UDP, UDP_SEGMENT)
            except OSError as exc:
                self._no_gso("UDP GSO here", exc)
        if self.gro:
            try:
                sock.setsockopt(socket.SOL_UDP, UDP_GRO, 1)
            except OSError as exc:
                self.gro = False
                print(f"{self.name}: no UDP GRO here ({exc.strerror})", file=sys.stderr)

    def _no_gso(self, what: str, exc: OSError) -> None:
        self.gso = False
        print(f"{self.name}: no {what} ({exc.strerror}): one datagram a message", file=sys.stderr)

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
        if self.outbox and not self._drain():
            return False
        return self.bucket is None or self.bucket.ready()

    def wait_hint(self) -> float:
        """How long a paced sender should wait: until half a burst is due, so that it wakes
        to send many PDUs at once (one GSO send) and a wake-up a little late loses nothing."""
        return self.bucket.wait(self.bucket.burst / 2) if self.bucket is not None else 0.0

    def send(self, pdu: bytes) -> None:
        if self.bucket is not None:
            self.bucket.take(len(pdu))
        if self.batch is None:
            if self.outbox or not self._transmit(pdu):
                self.outbox.append((pdu, 0))
            return
        gathered = self.gathered
        if gathered and (
            len(pdu) > len(gathered[0])  # GSO cuts at the first one's size: none longer
            or len(gathered[-1]) < len(gathered[0])  # and only the last one shorter
            or len(gathered) >= GSO_SEGMENTS
            or self.gathered_octets + len(pdu) > GSO_OCTETS
        ):
            self._seal()
        gathered.append(pdu)
        self.gathered_octets += len(pdu)

    def run_room(self, stride: int) -> int:
        """How many PDUs of ``stride`` octets ``send_run`` takes at once now: a full batch of
        GSO messages, or what the pace allows now (never more than a burst); 0 where the link
        sends a datagram a call."""
        if self.batch is None:
            return 0
        if self.bucket is not None:
            return max(1, int(self.bucket.tokens // stride))
        return BATCH_MAX * self._per_message(stride)

    def send_run(self, pdus: memoryview, stride: int) -> None:
        """Queue PDUs of ``stride`` octets laid back to back (the last may be shorter), as few
        GSO messages as carry them, each read from ``pdus`` itself; only when ready()."""
        if self.bucket is not None:
            self.bucket.take(len(pdus))
        if self.gathered:
            self._seal()
        step = self._per_message(stride) * stride
        for at in range(0, len(pdus), step):
            message = pdus[at : at + step]
            if len(message) > stride and self.gso:
                self.outbox.append((message, stride))
            else:
                self.outbox.extend(
                    (message[i : i + stride], 0) for i in range(0, len(message), stride)
                )
        if len(self.outbox) >= BATCH_MAX:
            self._drain()

    @staticmethod
    def _per_message(stride: int) -> int:
        return max(1, min(GSO_SEGMENTS, GSO_OCTETS // stride))

    def _seal(self) -> None:
        """The PDUs gathered become a message: one GSO message where the kernel cuts, else one
        message each; a full batch goes to the kernel at once."""
        gathered = self.gathered
        if len(gathered) > 1 and self.gso:
            self.outbox.append((b"".join(gathered), len(gathered[0])))
        else:
            self.outbox.extend((pdu, 0) for pdu in gathered)
        gathered.clear()
        self.gathered_octets = 0
        if len(self.outbox) >= BATCH_MAX:
            self._drain()

    def flush(self) -> None:
        """Hand what send() gathered to the kernel (batch=True); the owner calls this after each
        round of sends, and close() does."""
        if self.gathered:
            self._seal()
        self._drain()

    def _drain(self) -> bool:
        """The outbox to the kernel, many messages a call where the link batches; True once it
        is empty, False when the socket has no room for the rest now."""
        outbox = self.outbox
        while outbox:
            if self.batch is None:
                if not self._transmit(outbox[0][0]):
                    return False
                outbox.popleft()
                continue
            messages = list(islice(outbox, BATCH_MAX))
            try:
                sent = self.batch.send(self.sock.fileno(), messages, self._address())
            except OSError as exc:
                self._refused(exc)
                continue
            if not sent:
                return False
            for _ in range(sent):
                outbox.popleft()
        return True

    def _address(self) -> bytes:
        if self._peer_address[0] != self.peer:
            self._peer_address = (self.peer, ipv4_address(self.peer))
        return self._peer_address[1]

    def _refused(self, exc: OSError) -> None:
        """The first message in the outbox was refused: GSO on this path (a device without it,
        a path whose MTU is below the segment; its datagrams then go one a message, and every
        one after them), or the far end not listening yet (dropped: the protocol repeats what
        matters)."""
        data, segment = self.outbox[0]
        if segment and exc.errno in (errno.EINVAL, errno.EIO, errno.EOPNOTSUPP, errno.EMSGSIZE):
            self._no_gso("UDP GSO on this path", exc)
            self.outbox.popleft()
            pieces = [(data[at : at + segment], 0) for at in range(0, len(data), segment)]
            self.outbox.extendleft(reversed(pieces))
        elif exc.errno in (errno.ECONNREFUSED, errno.ENOBUFS):
            self.outbox.popleft()
        else:
            raise exc

    def _transmit(self, data: bytes) -> bool:
        """One datagram, one system call; False when the socket has no room for it now."""
        try:
            self.sock.sendto(data, self.peer)
        except BlockingIOError:
            return False
        except OSError as exc:  # the far end not listening yet: the protocol repeats what matters
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOBUFS):
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
        most timeout seconds for the first. Batched, the octets are views of the link's own
        buffers, read in place and valid until the next call."""
        out = self._receive_now()
        if not out and timeout > 0 and select.select([self.sock], [], [], timeout)[0]:
            out = self._receive_now()
        return out

    def _receive_now(self) -> list[tuple[bytes | memoryview, int]]:
        sock = self.sock
        if self.batch is not None:
            try:
                out = self.batch.receive(sock.fileno())
            except ConnectionRefusedError:  # an ICMP answer to what went before
                return []
            if out and self.listen:
                self.peer = self.batch.sender() or self.peer
            return out
        out: list[tuple[bytes | memoryview, int]] = []
        try:
            while len(out) < RECEIVE_BATCH:
                data, peer = sock.recvfrom(65536)
                out.append((data, len(data)))
                if self.listen:
                    self.peer = peer
        except (BlockingIOError, ConnectionRefusedError):
            pass
        return out

    def fileno(self) -> int:
        return self.sock.fileno()
