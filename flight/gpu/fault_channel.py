"""The simulated GPU's fault channel: a Unix datagram socket, named after the state directory in
Linux's abstract socket namespace (no file, no path length limit), through which
the HIL bench injects GPU faults (ECC errors, a lost GPU, overheating) and sets the radiation
background. Opened only when the controller runs the simulated GPU; a flight build with a real
GPU has no such door.

Each datagram is one msgpack map: ``{"fault": NAME, "count": N}``,
``{"corrected_ecc_per_hour": RATE}``, or a silent upset (silent_upsets.py):
``{"upset": TARGET, "seed": N, ...}``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import socket
from pathlib import Path

import msgpack

from flight.gpu.silent_upsets import SilentUpsets
from flight.gpu.simulated import SimulatedH100

FAULTS = ("ecc_corrected", "ecc_uncorrected", "lost", "overheat")
log = logging.getLogger("flight.gpu")


def address(state_dir: Path) -> str:
    """The channel's abstract socket address for a controller's state directory."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:24]
    return f"\0payload-gpu-faults-{digest}"


class FaultChannel:
    """The bench's side door into the simulated GPU."""

    def __init__(self, state_dir: Path, gpu: SimulatedH100) -> None:
        self.gpu = gpu
        self.upsets = SilentUpsets(state_dir)
        self.bad = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address(state_dir))
        self.sock.setblocking(False)

    def apply_pending(self) -> list[str]:
        """Apply every datagram waiting; the faults applied, by name."""
        applied = []
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return applied
            try:
                applied.append(self._apply(msgpack.unpackb(data, raw=False)))
            except (OSError, ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
                self.bad += 1
                log.warning("fault channel: ignored a bad message (%s)", exc)

    def _apply(self, message: dict) -> str:
        if "upset" in message:
            return self.upsets.apply(message)
        if "corrected_ecc_per_hour" in message:
            rate = float(message["corrected_ecc_per_hour"])
            if not 0 <= rate < 1e6:
                raise ValueError(f"corrected_ecc_per_hour {rate} out of range")
            self.gpu.model = dataclasses.replace(self.gpu.model, corrected_ecc_per_hour=rate)
            return "corrected_ecc_per_hour"
        fault, count = message["fault"], int(message.get("count", 1))
        if fault not in FAULTS or not 1 <= count <= 1000:
            raise ValueError(f"unknown fault {fault!r} or count {count}")
        self.gpu.inject(fault, count)
        return fault

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def send_fault(state_dir: Path, message: dict) -> None:
    """The bench's side: send one message to the controller's simulated GPU."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(msgpack.packb(message), address(state_dir))
