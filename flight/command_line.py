"""What every command line of the project shares (``python -m flight|hil|ground``): argparse
types that check ports, addresses, rates and counts before anything runs, and the one top-level
handler that turns the families of user mistakes into one line naming what is wrong and a
non-zero exit status, never a traceback.

Exit statuses: 2 a user mistake (bad value, missing or unreadable file, busy port, unknown
host, corrupt database), 3 a missing optional dependency, 70 a defect (one line, and the
traceback only with PAYLOAD_TRACEBACK=1), 130 interrupted.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import socket
import sqlite3
import sys
import traceback
from collections.abc import Callable
from typing import TypeVar

# optional module -> the extra that installs it (pip install 'orbital-gpu-payload[EXTRA]')
OPTIONAL = {
    "textual": "ground",
    "matplotlib": "ground",
    "numpy": "hil",
    "sgp4": "hil",
    "atheris": "fuzz",
    "space_packet_parser": "test",
}
T = TypeVar("T")
EX_USAGE, EX_MISSING, EX_SOFTWARE, EX_INTERRUPTED = 2, 3, 70, 130


def port(text: str) -> int:
    """A TCP or UDP port, 0 (any free one, where listening) to 65535."""
    value = _parse(text, int, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0-65535")
    return value


def host_port(text: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets: [::1]:5560), the port checked and the host looked
    up (an unknown host is named here, before anything starts)."""
    host, sep, number = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {host!r} is not an IPv6 address") from None
    value = port(number)
    try:
        socket.getaddrinfo(host, value)
    except (socket.gaierror, UnicodeError):
        raise argparse.ArgumentTypeError(f"{text!r}: unknown host {host!r}") from None
    return host, value


def address(text: str) -> str:
    """HOST:PORT checked as host_port checks it, kept as written."""
    host_port(text)
    return text


def positive(text: str) -> float:
    """A finite number above zero (a rate, a speed, a timeout)."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above zero")
    return value


def non_negative(text: str) -> float:
    """A finite number of zero or more (a delay)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def probability(text: str) -> float:
    """A probability, 0 to 1."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a probability (0 to 1)")
    return value


def count(text: str) -> int:
    """A whole number of zero or more."""
    value = _parse(text, int, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def spacecraft_id(text: str) -> int:
    """A USLP spacecraft id: a whole number from 0 to 65535."""
    value = count(text)
    if value > 0xFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not a spacecraft id (0 to 65535)")
    return value


def positive_count(text: str) -> int:
    """A whole number above zero (a line rate, a segment size)."""
    value = count(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above zero")
    return value


def _parse(text: str, kind: Callable[[str], T], what: str) -> T:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _number(text: str) -> float:
    value = _parse(text, float, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def describe(exc: BaseException) -> tuple[int, str]:
    """The exit status and the one line for an error that reached the top."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        extra = OPTIONAL.get(top)
        if extra:
            return EX_MISSING, (
                f"needs {top}, which is not installed: pip install 'orbital-gpu-payload[{extra}]'"
            )
    if isinstance(exc, socket.gaierror):
        return EX_USAGE, f"unknown host: {exc.strerror}"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return EX_USAGE, f"{exc.strerror or exc}{where}"
    if isinstance(exc, sqlite3.DatabaseError):
        return EX_USAGE, f"database unreadable ({exc}): is it a station's state, and whole?"
    return EX_SOFTWARE, f"internal error: {type(exc).__name__}: {exc}"


def run_main(prog: str, main: Callable[[list[str] | None], int]) -> int:
    """Run a command line's main, turning whatever reaches the top into one line on standard
    error and an exit status."""
    try:
        return main(None)
    except KeyboardInterrupt:
        return EX_INTERRUPTED
    except Exception as exc:  # the one top-level handler: one line, never a traceback
        status, line = describe(exc)
        print(f"{prog}: {line}", file=sys.stderr)
        if status == EX_SOFTWARE and os.environ.get("PAYLOAD_TRACEBACK"):
            traceback.print_exception(exc)
        return status
