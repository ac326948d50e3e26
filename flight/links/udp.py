"""A UDP link adapter: a high-rate optical or inter-satellite terminal reached over IP.

``udp://HOST:PORT`` names the far end when sending first (this end binds an ephemeral port) or
this end's address when listening (``listen=True``: the far end is learnt from the first datagram
that arrives, and replies go there). ``?rate=BPS`` paces what this end sends, never more than
2 ms of it back to back (a receiver's socket buffer of the system's default size holds fewer than
a hundred 1 KiB datagrams).
"""

from __future__ import annotations

import errno
import select
import socket
from urllib.parse import parse_qs, urlsplit

from flight.links.base import TokenBucket

UDP_MTU = 65507
SOCKET_BUFFER = 16 << 20
RECEIVE_BATCH = 512
BURST_S = 0.002  # paced: at most this long's worth of octets sent back to back
# Linux's socket options past net.core.[rw]mem_max (root only); Python does not name them.
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33


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
        self.pending: bytes | None = None
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

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @property
    def local_address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    @property
    def up(self) -> bool:
        return self.sock is not None and self.peer is not None

    def ready(self) -> bool:
        if self.pending is not None and not self._flush():
            return False
        return self.bucket is None or self.bucket.ready()

    def wait_hint(self) -> float:
        return self.bucket.wait() if self.bucket is not None else 0.0

    def _flush(self) -> bool:
        try:
            self.sock.sendto(self.pending, self.peer)
        except BlockingIOError:
            return False
        self.pending = None
        return True

    def send(self, pdu: bytes) -> None:
        if self.bucket is not None:
            self.bucket.take(len(pdu))
        try:
            self.sock.sendto(pdu, self.peer)
        except BlockingIOError:
            self.pending = pdu
        except OSError as exc:  # the far end not listening yet: the protocol repeats what matters
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOBUFS):
                raise

    def receive(self, timeout: float) -> list[bytes]:
        sock = self.sock
        out = []
        try:
            while len(out) < RECEIVE_BATCH:
                data, peer = sock.recvfrom(65536)
                out.append(data)
                if self.listen:
                    self.peer = peer
        except BlockingIOError:
            pass
        except ConnectionRefusedError:
            pass
        if not out and timeout > 0:
            if select.select([sock], [], [], timeout)[0]:
                return self.receive(0)
        return out

    def fileno(self) -> int:
        return self.sock.fileno()
