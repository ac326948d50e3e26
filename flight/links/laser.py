"""A laser terminal (an inter-satellite link) as a link adapter: CFDP PDUs as UDP datagrams to the
terminal, which carries each to the satellite its header names while that link is up.

``udp://TERMINAL:PORT?rate=BPS&bind=HOST:PORT``: the terminal's address, the rate the payload
may send at (bits per bus second, granted a second's share on each tick, as the bus link's
share is: sending is paced in bus time, so a lockstep bench carries the same datagrams in the
same seconds every run), and this end's address, where the terminal delivers what it receives.
Which neighbour can be reached when is the contact plan's to say (flight/relay), not the link's.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flight.links.udp import LinkUrlError, UdpLink, parse_rate, parse_udp_url

LASER_MTU = 9_000  # a jumbo frame: one PDU of the relay's segments and its header
DEFAULT_RATE_BPS = 10e6


def parse_laser_url(url: str) -> tuple[str, float | None, tuple[str, int] | None]:
    """The terminal's ``udp://HOST:PORT``, the rate and this end's address where the URL gives
    them; LinkUrlError (one line) for any other form."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if not set(query) <= {"rate", "bind"}:
        raise LinkUrlError(f"{url!r}: expected udp://HOST:PORT[?rate=BPS][&bind=HOST:PORT]")
    bind = None
    if "bind" in query:
        host, _, port = query["bind"][0].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise LinkUrlError(f"{url!r}: bind={query['bind'][0]!r} is not HOST:PORT")
        bind = (host, int(port))
    terminal = parts._replace(query="").geturl()
    parse_udp_url(terminal)  # its host and port
    return terminal, parse_rate(url, query), bind


class LaserLink:
    name = "laser"

    def __init__(self, url: str) -> None:
        terminal, rate, bind = parse_laser_url(url)
        self.udp = UdpLink(terminal, mtu=LASER_MTU, bind=bind)  # paced here, in bus time
        self.rate_bps = rate or DEFAULT_RATE_BPS
        self.mtu = LASER_MTU
        self.budget = 0.0

    def open(self) -> None:
        """Bind this end and resolve the terminal's address (OSError when either cannot be)."""
        self.udp.open()

    def close(self) -> None:
        self.udp.close()

    def second(self) -> None:
        """A bus tick: this second's share of the terminal's rate."""
        self.budget = min(self.budget, 0.0) + self.rate_bps / 8

    @property
    def up(self) -> bool:
        return self.udp.up

    def ready(self) -> bool:
        return self.budget > 0 and self.udp.ready()

    def send(self, pdu: bytes) -> None:
        self.budget -= len(pdu)
        self.udp.send(pdu)

    def receive(self, timeout: float) -> list[bytes]:
        """What the terminal delivered since the last call (never waits: the ticks drive it)."""
        return self.udp.receive(0)
