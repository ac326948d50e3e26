"""The serial link under test: a pseudo-terminal pair in raw mode (the bench holds the master,
the flight controller opens the slave by its path as it would a UART), or a real serial port to
a payload computer on a hardware bench."""

from __future__ import annotations

import os
import tty
from dataclasses import dataclass

import serial


@dataclass
class PtyLink:
    """A pty pair; close() releases both ends."""

    master_fd: int
    slave_fd: int
    slave_path: str

    @classmethod
    def open(cls) -> PtyLink:
        """A new raw pty pair. The bench keeps the slave open too, so the master never reads
        EIO while the controller restarts."""
        master, slave = os.openpty()
        tty.setraw(slave)
        return cls(master, slave, os.ttyname(slave))

    def close(self) -> None:
        """Close both ends."""
        for fd in (self.master_fd, self.slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass


@dataclass
class SerialPortLink:
    """A real serial port (or any pyserial URL with a file descriptor), the bench's end."""

    port: serial.SerialBase
    master_fd: int

    @classmethod
    def open(cls, url: str, baud: int | None) -> SerialPortLink:
        """Open the port raw at ``baud``; the UART paces the bytes itself."""
        port = serial.serial_for_url(url, baudrate=baud or 115_200, timeout=0)
        return cls(port, port.fileno())

    def close(self) -> None:
        """Close the port."""
        self.port.close()
