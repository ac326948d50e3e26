"""The transmit side of the payload's bus serial line: frames queued in two classes and written
without ever blocking the controller's loop.

Operational telemetry (verification reports, events, housekeeping) goes before file traffic
(CFDP PDUs), and file traffic is handed over only while the line keeps up with it: a line that
carries less than the payload's downlink share slows the files down, never the housekeeping, and
never the loop that answers the bus's ticks. A frame is written whole before the next one starts.
What the port cannot take now stays queued; operational telemetry beyond ``max_queued`` octets
(several seconds of a 115200-baud line that stopped draining) is dropped and counted.
"""

from __future__ import annotations

import os
import select
import time
from collections import deque
from typing import Protocol

import serial

MAX_QUEUED = 64 * 1024
DRIVER_HEADROOM = 1024  # file data waits while the driver holds more than this unsent


class ByteSink(Protocol):
    """Where frames go: a serial port, or anything with write()."""

    def write(self, data: bytes) -> int | None: ...


class SerialTransmitter:
    """Frames to the bus, operational ones first; file traffic only while the line keeps up."""

    def __init__(self, sink: ByteSink, max_queued: int = MAX_QUEUED) -> None:
        self.sink = sink
        self.fd = _descriptor(sink)
        self.max_queued = max_queued
        self._urgent: deque[bytes] = deque()
        self._bulk: deque[bytes] = deque()
        self._urgent_octets = 0
        self._current = memoryview(b"")  # the frame being written: finished before any other
        self.dropped = 0
        self.stalls = 0  # times the port took less than it was offered

    def send(self, data: bytes, bulk: bool = False) -> bool:
        """Queue one frame and write what the port takes now; False when it was dropped (the
        operational queue is full, or a port without a descriptor timed out)."""
        if bulk:
            self._bulk.append(data)
        elif self._urgent_octets + len(data) > self.max_queued:
            self.dropped += 1
            return False
        else:
            self._urgent.append(data)
            self._urgent_octets += len(data)
        return self.pump()

    def pump(self) -> bool:
        """Write what the port takes now, operational frames first; False when a port without a
        descriptor timed out and its frame was dropped."""
        while True:
            if not self._current:
                frame = self._next()
                if frame is None:
                    return True
                self._current = memoryview(frame)
            if self.fd is None:
                return self._write_whole()
            try:
                written = os.write(self.fd, self._current)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                raise serial.SerialException(f"write to the bus link failed: {exc}") from None
            self._current = self._current[written:]
            if self._current:
                self.stalls += 1
                return True

    def _write_whole(self) -> bool:
        frame, self._current = bytes(self._current), memoryview(b"")
        try:
            self.sink.write(frame)
        except serial.SerialTimeoutException:
            self.dropped += 1
            return False
        return True

    def _next(self) -> bytes | None:
        if self._urgent:
            frame = self._urgent.popleft()
            self._urgent_octets -= len(frame)
            return frame
        if self._bulk and self._driver_has_room():
            return self._bulk.popleft()
        return None

    def _driver_has_room(self) -> bool:
        """Whether the driver's own transmit queue is short, where the port reports one (a UART
        does; a pty reports none, and its buffer alone holds what the bus has not read)."""
        try:
            waiting = getattr(self.sink, "out_waiting", 0)
        except (OSError, serial.SerialException):
            return True
        return not isinstance(waiting, int) or waiting <= DRIVER_HEADROOM

    @property
    def pending(self) -> bool:
        """Whether anything waits to be written."""
        return bool(self._current or self._urgent or self._bulk)

    @property
    def clear(self) -> bool:
        """Whether file traffic may be handed over now: nothing waits, and the driver keeps up."""
        return not self.pending and self._driver_has_room()

    def flush(self, timeout: float) -> None:
        """Write what is queued, waiting at most ``timeout`` seconds for the port (at stop: a
        line that has gone away loses what was left, the stop goes on)."""
        deadline = time.monotonic() + timeout
        while self.pending and self._pump_at_stop():
            left = deadline - time.monotonic()
            if left <= 0 or self.fd is None:
                return
            if self._current:
                select.select([], [self.fd], [], min(left, 0.05))
            else:  # file data waits for the driver's queue to go down
                time.sleep(min(left, 0.01))

    def _pump_at_stop(self) -> bool:
        try:
            return self.pump()
        except serial.SerialException:
            return False


def _descriptor(sink: ByteSink) -> int | None:
    """The sink's file descriptor, set non-blocking; None for a sink written through write()
    (a pyserial URL such as socket://, or a test's)."""
    if not isinstance(sink, serial.Serial):
        return None
    try:
        fd = sink.fileno()
    except (AttributeError, OSError, serial.SerialException):
        return None
    os.set_blocking(fd, False)
    return fd
