"""Bus-level fault injection: the on-board computer restarting (no ticks, nothing forwarded, its
packet count from zero), the line out both ways, the EPS giving the payload nothing, and the bus
clock stepping. Byte-level faults are the serial line's (hil/serial_line.py)."""

from __future__ import annotations

from flight.protocol.messages import CommandEncoder
from hil.bus_clock import BusClock
from hil.serial_line import SerialLine


class BusFaults:
    """The faults in force, second by second."""

    def __init__(self, line: SerialLine, commands: CommandEncoder, clock: BusClock) -> None:
        self.line = line
        self.commands = commands
        self.clock = clock
        self.resets = 0
        self.quiet = 0  # bus reset: seconds left without ticks or forwarding
        self._outage = 0
        self._brownout = 0

    def bus_reset(self, seconds: int) -> None:
        """The on-board computer restarts: no ticks and nothing forwarded for ``seconds``, then
        ticks again with its packet sequence count from zero."""
        self.resets += 1
        self.quiet = max(self.quiet, seconds)
        self.line.outage = True
        self.commands.restart()

    def outage(self, seconds: int) -> None:
        """The line carries nothing for ``seconds``, both ways (the payload's output is drained
        and lost); ticks go on but do not arrive."""
        self._outage = max(self._outage, seconds)
        self.line.outage = True

    def brownout(self, seconds: int) -> None:
        """The EPS gives the payload nothing for ``seconds``."""
        self._brownout = max(self._brownout, seconds)

    def clock_jump(self, seconds: float) -> None:
        """The bus's time steps by ``seconds`` (forward or back) from the next tick on."""
        self.clock.time += seconds

    def restarting(self) -> bool:
        """At a tick: whether the bus is still restarting (a second of it used)."""
        if not self.quiet:
            return False
        self.quiet -= 1
        self.line.outage = bool(self.quiet or self._outage)
        return True

    def browned_out(self) -> bool:
        """At a tick: whether the EPS gives the payload nothing this second (one used)."""
        if not self._brownout:
            return False
        self._brownout -= 1
        return True

    def after_tick(self) -> None:
        """A second of an outage used."""
        if self._outage:
            self._outage -= 1
            self.line.outage = bool(self._outage)
