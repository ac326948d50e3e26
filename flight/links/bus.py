"""The bus serial link as a link adapter: CFDP PDUs in CFDP_PDU telemetry packets, relayed to the
ground by the spacecraft's radio during link windows, and CFDP_PDU telecommands coming back.

The bus gives the payload a share of the downlink: ``rate_bps`` in bus time, granted a second at
a time on each tick (a packet larger than what is left of a second's share goes anyway and is paid
for from the next). The link is up while the tick says a link window is open. Within the share,
a PDU is handed over only while the serial line keeps up (``line_clear``): on a line slower than
the share, files go at the line's pace, and a PDU's timers start when it goes out, not while it
waits behind others.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from flight.protocol.packets import MAX_PACKET_LEN

# What a PDU costs on the line besides itself: primary header 6, PUS TM secondary header 13,
# the bytes field's length 2, packet error control 2, COBS code bytes and the delimiter ~2.
PACKET_OVERHEAD = 25
MAX_PDU = MAX_PACKET_LEN - PACKET_OVERHEAD


class BusLink:
    name = "bus"

    def __init__(
        self,
        send: Callable[[bytes], None],
        rate_bps: float,
        line_clear: Callable[[], bool] = lambda: True,
    ) -> None:
        self._send = send
        self._line_clear = line_clear
        self.rate_bps = rate_bps
        self.mtu = MAX_PDU
        self.budget = 0.0
        self.is_up = False
        self.held = False  # this second, the line held back a PDU the share allowed
        self.inbox: deque[bytes] = deque()

    def open(self) -> None:
        """Nothing to open: the controller owns the serial port."""

    def close(self) -> None:
        """Nothing to close: the controller owns the serial port."""

    def second(self, up: bool) -> None:
        """A bus tick: the window state, and this second's share of the downlink."""
        self.is_up = up
        self.budget = min(self.budget, 0.0) + self.rate_bps / 8 if up else 0.0
        self.held = False

    @property
    def up(self) -> bool:
        return self.is_up

    def ready(self) -> bool:
        if not (self.is_up and self.budget > 0):
            self.held = self.held and self.budget > 0  # a spent share holds nothing back
            return False
        if self._line_clear():
            return True
        self.held = True  # the owner sends again when the line has room (catch_up)
        return False

    def send(self, pdu: bytes) -> None:
        self.budget -= len(pdu) + PACKET_OVERHEAD
        self._send(pdu)

    def deliver(self, pdu: bytes) -> None:
        """A PDU the ground sent (from a CFDP_PDU telecommand)."""
        self.inbox.append(pdu)

    def receive(self, timeout: float) -> list[bytes]:
        out = list(self.inbox)
        self.inbox.clear()
        return out
