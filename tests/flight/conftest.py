"""A harness that drives the real controller over a real pty, in lockstep: the test is the bus,
sends each byte and each tick itself, and reads back every telemetry packet the controller wrote."""

from __future__ import annotations

import os
import select
from pathlib import Path
from typing import Any

import pytest

from flight import dictionary as d
from flight.controller import Controller, open_link
from flight.gpu.simulated import SimulatedH100
from flight.protocol.framing import Deframer, frame
from flight.protocol.messages import DecodedTelemetry, decode_telemetry, encode_command
from flight.protocol.packets import build_tc, parse_packet
from hil.serial_link import PtyLink

START = 1_767_225_600.0
WAIT_S = 5.0


class PayloadHarness:
    """The bus side of a controller under test."""

    def __init__(self, state_dir: Path, **controller: Any) -> None:
        self.link = PtyLink.open()
        os.set_blocking(self.link.master_fd, False)
        self.port = open_link(self.link.slave_path, 115200)
        self.state_dir = state_dir
        (state_dir / "bin").mkdir(parents=True, exist_ok=True)
        self.controller_args = controller
        self.ctl = Controller(self.port, state_dir, **controller)
        self.deframer = Deframer()
        self.received = 0
        self.seq = 0
        self.time = START

    def close(self) -> None:
        self.ctl.close()
        self.port.close()
        self.link.close()

    def restart(self, crash: bool = True) -> None:
        """A new controller on the same state directory. ``crash``: the old one vanishes without
        stopping its job or writing anything more, as after SIGKILL."""
        if crash:
            self.ctl.runner.close()
            if self.ctl.faults is not None:
                self.ctl.faults.close()
        else:
            self.ctl.close()
        self.ctl = Controller(self.port, self.state_dir, **self.controller_args)
        self.received = 0

    def send_bytes(self, data: bytes) -> None:
        """Write bytes on the bus side and let the controller read all of them from its port."""
        os.write(self.link.master_fd, data)
        got = 0
        while got < len(data):
            ready, _, _ = select.select([self.port.fileno()], [], [], WAIT_S)
            assert ready, "the pty did not deliver the bytes"
            chunk = self.port.read(self.port.in_waiting)
            got += len(chunk)
            self.ctl.receive(chunk)

    def tc(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        source: int = d.SOURCE_GROUND,
        ack: int = d.ACK_GROUND_DEFAULT,
        apid: int = d.APID_PAYLOAD,
    ) -> bytes:
        """A telecommand packet from the dictionary."""
        command, data = encode_command(name, args)
        packet = build_tc(
            apid, self.seq, command.service, command.subtype, data, source_id=source, ack_flags=ack
        )
        self.seq = (self.seq + 1) & 0x3FFF
        return packet

    def send(self, packet: bytes) -> list[DecodedTelemetry]:
        """Send one packet as a frame; the telemetry it caused."""
        self.send_bytes(frame(packet))
        return self.telemetry()

    def command(
        self, name: str, args: dict[str, Any] | None = None, **kw: Any
    ) -> list[DecodedTelemetry]:
        """Send a command from the dictionary; the telemetry it caused."""
        return self.send(self.tc(name, args, **kw))

    def tick_args(self, time: float, allowance: float = 150.0, **env: Any) -> dict[str, Any]:
        """The arguments of a BUS_TICK: a sunlit second with no eclipse or link ahead."""
        return {
            "time": time,
            "power_allowance_w": allowance,
            "battery_soc": 0.8,
            "sink_temp_c": -20.0,
            "sunlit": 1,
            "eclipse_in_s": d.NONE_AHEAD,
            "eclipse_s": 0,
            "link_in_s": d.NONE_AHEAD,
            "link_s": 0,
        } | env

    def tick(self, allowance: float = 150.0, **env: Any) -> list[DecodedTelemetry]:
        """One bus second."""
        self.time += 1
        return self.command(
            "BUS_TICK", self.tick_args(self.time, allowance, **env), source=d.SOURCE_BUS, ack=0
        )

    def telemetry(self) -> list[DecodedTelemetry]:
        """Every telemetry packet the controller has written since the last call."""
        out: list[DecodedTelemetry] = []
        target = self.ctl.tm.sent
        while self.received < target:
            ready, _, _ = select.select([self.link.master_fd], [], [], WAIT_S)
            assert ready, f"expected {target - self.received} more telemetry packets"
            for raw in self.deframer.feed(os.read(self.link.master_fd, 65536)):
                out.append(decode_telemetry(parse_packet(raw)))
                self.received += 1
        return out

    def install_job(self, name: str, script: str) -> None:
        """Put an executable shell script in the job area."""
        path = self.state_dir / "bin" / name
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)

    def wait_job_process(self, job_id: str) -> None:
        """Block until the job's process has exited (the next tick then reaps it)."""
        self.ctl.runner.jobs[job_id].process.wait(timeout=30)


@pytest.fixture
def payload(tmp_path: Path):
    harness = PayloadHarness(tmp_path / "state")
    yield harness
    harness.close()


@pytest.fixture
def sim_payload(tmp_path: Path):
    """A controller with the simulated H100."""
    harness = PayloadHarness(tmp_path / "state", gpu=SimulatedH100(), gpu_kind="simulated")
    yield harness
    harness.close()
