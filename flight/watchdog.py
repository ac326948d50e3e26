"""systemd's service watchdog, by the sd_notify protocol (a datagram to $NOTIFY_SOCKET):
READY=1 once the controller serves its link, WATCHDOG=1 while every loop it watches has come
round within the watchdog interval ($WATCHDOG_USEC), STOPPING=1 on the way out. A hung loop stops
the WATCHDOG=1 messages and systemd restarts the service (WatchdogSec= in the unit).

Not under systemd (no $NOTIFY_SOCKET), or under a watchdog meant for another process
($WATCHDOG_PID), nothing is sent.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("flight.watchdog")


class Watchdog:
    """Tells systemd the controller is alive while all its watched loops are."""

    def __init__(
        self,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        address = environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        mine = bool(self.address) and (not pid or pid == str(os.getpid()))
        self.interval = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self._socket: socket.socket | None = None
        if self.address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._beats: dict[str, float] = {}
        self._petted = float("-inf")
        self.sent = 0  # WATCHDOG=1 messages sent

    def notify(self, message: str) -> None:
        """Send one sd_notify message (a failure is logged, never raised: the controller goes
        on without its supervisor rather than stop)."""
        if self._socket is None:
            return
        try:
            self._socket.sendto(message.encode(), self.address)
        except OSError as exc:
            log.warning("sd_notify %s: %s", message, exc.strerror)

    def ready(self) -> None:
        """The controller serves its link."""
        self.notify("READY=1")

    def stopping(self) -> None:
        """The controller is stopping on purpose."""
        self.notify("STOPPING=1")

    def beat(self, loop: str) -> None:
        """A watched loop has come round; pet the watchdog if every loop is alive (at most twice
        an interval)."""
        if self.interval is None:  # not watched: nothing to keep on the loop's path
            return
        now = self.clock()
        self._beats[loop] = now
        if now - self._petted < self.interval / 2:
            return
        if all(now - seen < self.interval for seen in self._beats.values()):
            self.notify("WATCHDOG=1")
            self._petted = now
            self.sent += 1

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
