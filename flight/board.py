"""The controller's collaborators, built from the state directory and the start's options: the
clock and the telemetry writer on the bus link, the telecommand verifier and its keys, the job
runner, the downlink and the relay on the laser mesh, the GPU and its fault channel, the
governor, safe mode, the watchdog and the image manager. A test builds its own Board, or any
part of one, and hands it to the controller."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from flight.downlink import Downlink, DownlinkConfig
from flight.governor import Governor, GovernorConfig
from flight.gpu.backend import GpuBackend
from flight.gpu.fault_channel import FaultChannel
from flight.gpu.monitor import GpuMonitor
from flight.gpu.simulated import SimulatedH100
from flight.image.manager import ImageManager
from flight.jobs.runner import JobRunner
from flight.jobs.sandbox import JobUser
from flight.jobs.store import StoreError
from flight.links.laser import LaserLink
from flight.onboard_clock import OnboardClock
from flight.relay.service import Relay
from flight.reports import Reports
from flight.safe_mode import SafeMode
from flight.security.keys import Key, SigningKey
from flight.security.replay import RESERVE, SecurityState
from flight.security.tc_auth import TcVerifier
from flight.serial_tx import ByteSink
from flight.tables.store import TableStore
from flight.telemetry import TelemetryWriter
from flight.watchdog import Watchdog

log = logging.getLogger("flight")


@dataclass
class Board:
    """What the controller runs over."""

    clock: OnboardClock
    tm: TelemetryWriter
    reports: Reports
    auth: TcVerifier
    job_keys: dict[int, SigningKey]
    runner: JobRunner
    downlink: Downlink
    gpu: GpuMonitor
    faults: FaultChannel | None
    governor: Governor
    safe: SafeMode
    tables: TableStore
    watchdog: Watchdog
    image: ImageManager | None
    relay: Relay | None = None  # with a laser terminal: routes files across the mesh

    def close(self) -> None:
        """Stop the running job (it is requeued) and close the stores and the fault channel."""
        try:
            self.runner.shutdown()
        except StoreError as exc:  # the job is found again at the next start
            log.error("shutdown: %s", exc)
        self.runner.close()
        self.downlink.close()
        if self.relay is not None:
            self.relay.close()
        self.auth.state.close()
        self.safe.stopped()
        self.watchdog.close()
        if self.faults is not None:
            self.faults.close()


def build_board(
    link: ByteSink,
    state_dir: Path,
    keys: dict[int, Key],
    job_keys: dict[int, SigningKey],
    gpu: GpuBackend | None = None,
    gpu_kind: str = "none",
    eclipse_predictions: bool = True,
    watchdog: Watchdog | None = None,
    job_user: JobUser | None = None,
    job_scopes: bool = False,
    image: ImageManager | None = None,
    replay_reserve: int = RESERVE,
    laser: LaserLink | None = None,
    entity_id: int | None = None,
) -> Board:
    """The collaborators of a controller on ``link`` keeping its state in ``state_dir``
    (StoreError or OSError when a store there cannot be opened), set by the parameter tables
    in use there (or the ones the image ships)."""
    tables = TableStore(state_dir / "tables")
    clock = OnboardClock()
    tm = TelemetryWriter(link)
    reports = Reports(tm, clock)
    auth = TcVerifier(keys, SecurityState(state_dir / "security.state", replay_reserve))
    runner = JobRunner(state_dir, user=job_user, scopes=job_scopes)
    down = Downlink(
        state_dir,
        lambda pdu: reports.send("CFDP_PDU", {"pdu": pdu}),
        DownlinkConfig(**tables.values["downlink"]),
        line_clear=lambda: tm.tx.clear,
    )
    tm.tap = down.record
    relay = None
    if laser is not None:
        assert entity_id is not None
        laser.open()
        relay = down.router = Relay(state_dir, entity_id, laser, down)
    return Board(
        clock=clock,
        tm=tm,
        reports=reports,
        auth=auth,
        job_keys=job_keys,
        runner=runner,
        downlink=down,
        gpu=GpuMonitor(gpu, gpu_kind),
        faults=FaultChannel(state_dir, gpu) if isinstance(gpu, SimulatedH100) else None,
        governor=Governor(
            GovernorConfig(**tables.values["governor"], eclipse_predictions=eclipse_predictions)
        ),
        safe=SafeMode(state_dir / "safe_mode.json", **tables.values["safe_mode"]),
        tables=tables,
        watchdog=watchdog if watchdog is not None else Watchdog(),
        image=image,
        relay=relay,
    )
