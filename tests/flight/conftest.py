"""A harness that drives the real controller over a real pty, in lockstep: the test is the bus,
sends each byte and each tick itself, and reads back every telemetry packet the controller wrote."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

from dataclasses import replace
from types import SimpleNamespace

import pynvml
import pytest

from flight import dictionary as d
from flight.board import build_board
from flight.controller import Controller, open_link
from flight.gpu.backend import GpuError, GpuLost
from flight.gpu.simulated import SimulatedH100
from flight.protocol.framing import Deframer, frame
from flight.protocol.messages import DecodedTelemetry, decode_telemetry, encode_command
from flight.protocol.packets import build_tc, parse_packet
from flight.security.job_auth import SIGNATURE, sign_manifest
from flight.security.keys import (
    BUS_KEY_ID,
    GROUND_KEY_IDS,
    JOB_KEY_ID,
    Key,
    new_signing_key,
    new_key,
    write_keys,
)
from flight.security.tc_auth import TcSigner
from hil.serial_link import PtyLink

START = 1_767_225_600.0
WAIT_S = 5.0
# The controller's keys in these tests: the bus's, the ground's in use and its spare.
TEST_KEYS: dict[int, Key] = {
    k.key_id: k
    for k in (
        new_key(BUS_KEY_ID, d.SOURCE_BUS, active=True),
        new_key(GROUND_KEY_IDS[0], d.SOURCE_GROUND, active=True),
        new_key(GROUND_KEY_IDS[1], d.SOURCE_GROUND),
    )
}

JOB_KEY = new_signing_key(JOB_KEY_ID)  # the ground's; the controller trusts its public half
TRUSTED_JOB_KEYS = {JOB_KEY_ID: replace(JOB_KEY, private=None)}


def signed_job(name: str, args: dict[str, Any] | None) -> dict[str, Any] | None:
    """A SUBMIT_JOB's arguments with the manifest signed, as the ground station signs it (other
    commands, and manifests that are not maps or come signed, unchanged)."""
    manifest = (args or {}).get("manifest")
    if name != "SUBMIT_JOB" or not isinstance(manifest, dict) or SIGNATURE in manifest:
        return args
    return args | {"manifest": sign_manifest(manifest, JOB_KEY)}


def signer(source: int) -> TcSigner:
    """Signs a source's telecommands with its test key in use."""
    return TcSigner(lambda: TEST_KEYS, source)


def bus_tick_args(time: float, allowance: float = 150.0, **env: Any) -> dict[str, Any]:
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


def controller_process(bus_path: str, state: Path, **env: str) -> subprocess.Popen:
    """The real controller as a process of its own on a bus port, no GPU, errors only logged,
    with TEST_KEYS in a key file beside its state directory."""
    keys = state.parent / "flight-keys.toml"
    write_keys(keys, list(TEST_KEYS.values()), list(TRUSTED_JOB_KEYS.values()))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flight",
            "run",
            "--bus",
            bus_path,
            "--state-dir",
            str(state),
            "--keys",
            str(keys),
            "--gpu",
            "none",
            "--allow-root-jobs",
            "--log-level",
            "ERROR",
        ],
        cwd=state.parent,
        env=os.environ | {"PYTHONSAFEPATH": "1"} | env,
    )


class PayloadHarness:
    """The bus side of a controller under test."""

    def __init__(self, state_dir: Path, **controller: Any) -> None:
        self.link = PtyLink.open()
        os.set_blocking(self.link.master_fd, False)
        self.port = open_link(self.link.slave_path, 115200)
        self.state_dir = state_dir
        self.allowance = 150.0  # the bus's power allowance on each tick, unless one is given
        (state_dir / "bin").mkdir(parents=True, exist_ok=True)
        self.controller_args = controller
        self.ctl = Controller(
            self.port, build_board(self.port, state_dir, TEST_KEYS, TRUSTED_JOB_KEYS, **controller)
        )
        self.signers = {source: signer(source) for source in d.SOURCES}
        self.deframer = Deframer()
        self.received = 0
        self.seq = 0
        self.time = START

    def close(self) -> None:
        self.ctl.close()
        self.port.close()
        self.link.close()

    def restart(self, crash: bool = True) -> list[DecodedTelemetry]:
        """A new controller on the same state directory; what the old one sent as it stopped.
        ``crash``: the old one vanishes without stopping its job or writing anything more, as
        after SIGKILL."""
        stopping: list[DecodedTelemetry] = []
        if crash:
            self.ctl.runner.close()
            if self.ctl.faults is not None:
                self.ctl.faults.close()
        else:
            self.ctl.close()
            stopping = self.telemetry()
        board = build_board(
            self.port, self.state_dir, TEST_KEYS, TRUSTED_JOB_KEYS, **self.controller_args
        )
        self.ctl = Controller(self.port, board)
        self.received = 0
        for _, floor in self.ctl.auth.floors():  # what the SEQUENCE_FLOOR events at start say
            for sender in self.signers.values():
                sender.heard_floor(floor["key_id"], floor["floor"])
        return stopping

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
        """A telecommand packet from the dictionary, signed with the source's key."""
        command, data = encode_command(name, signed_job(name, args))
        return self.signed(
            command.service, command.subtype, data, source=source, ack=ack, apid=apid
        )

    def signed(
        self,
        service: int,
        subtype: int,
        data: bytes = b"",
        *,
        source: int = d.SOURCE_GROUND,
        ack: int = d.ACK_GROUND_DEFAULT,
        apid: int = d.APID_PAYLOAD,
    ) -> bytes:
        """A telecommand of any service and subtype, signed with the key of ``source`` (the
        ground's for a source that has none)."""
        packet = build_tc(apid, self.seq, service, subtype, data, source_id=source, ack_flags=ack)
        self.seq = (self.seq + 1) & 0x3FFF
        return self.signers.get(source, self.signers[d.SOURCE_GROUND]).sign(packet)

    def send(self, packet: bytes) -> list[DecodedTelemetry]:
        """Send one packet as a frame; the telemetry it caused."""
        self.send_bytes(frame(packet))
        return self.telemetry()

    def command(
        self, name: str, args: dict[str, Any] | None = None, **kw: Any
    ) -> list[DecodedTelemetry]:
        """Send a command from the dictionary; the telemetry it caused."""
        return self.send(self.tc(name, args, **kw))

    def tick(self, allowance: float | None = None, **env: Any) -> list[DecodedTelemetry]:
        """One bus second."""
        self.time += 1
        power = self.allowance if allowance is None else allowance
        return self.command(
            "BUS_TICK", bus_tick_args(self.time, power, **env), source=d.SOURCE_BUS, ack=0
        )

    def telemetry(self) -> list[DecodedTelemetry]:
        """Every telemetry packet the controller has written since the last call."""
        out: list[DecodedTelemetry] = []
        target = self.ctl.tm.sent
        while self.received < target:
            self.ctl.drain()  # what the pty could not take at once (the loop does this)
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


class FakeNvml:
    """NVML's functions, answered from a simulated card; root or not."""

    def __init__(self, card: SimulatedH100, root: bool) -> None:
        self.card, self.root = card, root
        self.calls: list[str] = []
        self.pending_xids: list[int] = []

    def install(self, monkeypatch) -> None:
        for name in dir(self):
            if name.startswith("nvml"):
                monkeypatch.setattr(pynvml, name, getattr(self, name))

    def _r(self):
        try:
            r = self.card.read()
        except GpuLost:
            raise pynvml.NVMLError_GpuIsLost() from None
        self.pending_xids += r.xids
        return r

    def nvmlInit(self):
        self.calls.append("init")

    def nvmlShutdown(self):
        self.calls.append("shutdown")

    def nvmlDeviceGetHandleByIndex(self, index):
        if index != 0:
            raise pynvml.NVMLError_InvalidArgument()
        return "gpu0"

    def nvmlDeviceGetTemperatureThreshold(self, handle, kind):
        m = self.card.model
        return {
            pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN: int(m.slowdown_c),
            pynvml.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN: int(m.shutdown_c),
        }[kind]

    def nvmlEventSetCreate(self):
        return "events"

    def nvmlDeviceRegisterEvents(self, handle, types, events):
        assert types == pynvml.nvmlEventTypeXidCriticalError

    def nvmlEventSetFree(self, events):
        self.calls.append("free")

    def nvmlEventSetWait_v2(self, events, timeout_ms):
        assert timeout_ms == 0  # the controller never blocks on events
        if not self.pending_xids:
            raise pynvml.NVMLError_Timeout()
        return SimpleNamespace(
            eventData=self.pending_xids.pop(0), eventType=pynvml.nvmlEventTypeXidCriticalError
        )

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle):
        m = self.card.model
        return [int(m.limit_min_w * 1000), int(m.limit_max_w * 1000)]

    def nvmlDeviceSetPowerManagementLimit(self, handle, milliwatts):
        if not self.root:
            raise pynvml.NVMLError_NoPermission()
        self.card.set_power_limit(milliwatts / 1000)

    def nvmlDeviceGetPowerUsage(self, handle):
        return int(self._r().power_w * 1000)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return int(self._r().power_limit_w * 1000)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return int(self._r().temperature_c)

    def nvmlDeviceGetClockInfo(self, handle, clock):
        assert clock == pynvml.NVML_CLOCK_SM
        return self._r().sm_clock_mhz

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self._r().clock_event_reasons

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=self._r().utilization_pct, memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle):
        r = self._r()
        return SimpleNamespace(
            used=r.memory_used_mib << 20,
            total=r.memory_total_mib << 20,
            free=(r.memory_total_mib - r.memory_used_mib) << 20,
        )

    def nvmlDeviceGetTotalEccErrors(self, handle, kind, counter):
        assert counter == pynvml.NVML_VOLATILE_ECC
        r = self._r()
        return (
            r.ecc_corrected
            if kind == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED
            else r.ecc_uncorrected
        )

    def nvmlDeviceGetName(self, handle):
        return self.card.name

    def nvmlDeviceSetGpuLockedClocks(self, handle, min_mhz, max_mhz):
        if not self.root:
            raise pynvml.NVMLError_NoPermission()
        try:
            self.card.lock_clocks(min_mhz, max_mhz)
        except GpuLost:
            raise pynvml.NVMLError_GpuIsLost() from None
        except GpuError:
            raise pynvml.NVMLError_InvalidArgument() from None

    def nvmlDeviceResetGpuLockedClocks(self, handle):
        if not self.root:
            raise pynvml.NVMLError_NoPermission()
        self.card.reset_clocks()

    def nvmlDeviceGetRemappedRows(self, handle):
        r = self._r()
        return (0, r.remapped_rows, 0, 0)


@pytest.fixture
def fake_nvml(monkeypatch):
    """Installs a fake of NVML's functions answered by a simulated card: fake_nvml(card, root)."""

    def install(card: SimulatedH100, root: bool = True) -> FakeNvml:
        fake = FakeNvml(card, root)
        fake.install(monkeypatch)
        return fake

    return install
