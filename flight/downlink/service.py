"""The payload's downlink: its CFDP entity on the bus link, the job results queued for it, and the
telemetry it sends, all of it also recorded and played back as files in the next link window (the
live copy may not have reached the ground: no window, or lost on the way).

Order on the link (docs/downlink.md): job results by their manifest priority (0 first), then
stored events, then stored housekeeping. A job's results go with RESULTS.json, which lists each
file's size and SHA-256 so that the ground can check them beyond the CFDP checksum.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from flight import dictionary as d
from flight.cfdp.entity import SENDER, Entity
from flight.cfdp.filestore import FileStore
from flight.cfdp.journal import Journal
from flight.cfdp.mib import EntityConfig
from flight.cfdp.pdu import Condition
from flight.downlink.recorder import PRIORITY_EVENTS, PRIORITY_HOUSEKEEPING, TelemetryRecorder
from flight.jobs.sandbox import sync_dir, write_own
from flight.links.bus import BusLink
from flight.tables.store import shipped_table
from flight.events import EV, Event

FLIGHT_ENTITY = 1
GROUND_ENTITY = 2
RESULTS_MANIFEST = "RESULTS.json"
RELAYED_PREFIX = "relay/"  # a file another satellite made, routed down this link
UPLINK_PREFIX = "uplink/"  # a consignment the ground sent up for a satellite on the mesh
RECORDING_S = 1800.0  # with a relay, stored telemetry is handed to it at least this often
CFDP_SERVICE = 210


class Router(Protocol):
    """Where a job's results, stored telemetry and files of DOWNLINK_FILE go instead, to be
    routed to the ground (flight/relay)."""

    def hold(self, path: Path, name: str, priority: int) -> None: ...

    def holds(self, name: str) -> bool: ...

    def snapshot(self, path: Path, relative: str, priority: int) -> str:
        """A file of DOWNLINK_FILE, copied as it stands, to be routed; its name there."""
        ...

    def carry(self, path: Path, name: str) -> None:
        """A consignment the ground uplinked to this satellite for one on the mesh."""
        ...

    @property
    def transactions(self) -> int:
        """Its CFDP transactions open on the laser links."""
        ...

    def housekeeping(self) -> dict[str, int]:
        """isl_links and relay_files."""
        ...


class DownlinkError(Exception):
    """A file that cannot be queued, with the PUS 1 failure code to report."""

    def __init__(self, code: d.FailureCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class DownlinkConfig:
    """The downlink's settings: its table (flight/tables/shipped/downlink.toml) and the CFDP
    entity ids of the mission."""

    rate_bps: float
    segment_size: int
    max_tries: int
    entity_id: int = FLIGHT_ENTITY
    ground_id: int = GROUND_ENTITY

    @classmethod
    def shipped(cls, **changes: Any) -> DownlinkConfig:
        """The table the image ships, with ``changes``."""
        return cls(**shipped_table("downlink") | changes)


class Downlink:
    def __init__(
        self,
        state_dir: Path,
        send_pdu: Callable[[bytes], None],
        config: DownlinkConfig | None = None,
        line_clear: Callable[[], bool] = lambda: True,
    ) -> None:
        self.config = config or DownlinkConfig.shipped()
        self.state_dir = state_dir.resolve()
        self.now = 0.0
        self.link = BusLink(send_pdu, self.config.rate_bps, line_clear)
        self.journal = Journal(state_dir / "downlink" / "cfdp.sqlite")
        self.entity = Entity(
            EntityConfig(self.config.entity_id, segment_size=self.config.segment_size),
            self.link,
            FileStore(state_dir / "files"),
            self.journal,
            clock=lambda: self.now,
        )
        self.recorder = TelemetryRecorder(state_dir / "downlink" / "stored")
        # Recordings a previous run left (open, or closed and not yet queued) go first.
        self.recorder.close(0)
        self.backlog = [
            (path, PRIORITY_EVENTS if ".events." in path.name else PRIORITY_HOUSEKEEPING)
            for path in sorted(self.recorder.directory.glob("stored-*.tm"))
            if not self.journal.sent_before(str(path.resolve()))
        ]
        self.sent = 0
        self.failed = 0
        self.tries: dict[str, int] = {}
        self.router: Router | None = None  # the relay, where the payload has a laser terminal
        self._rotate_at = -math.inf  # with a relay: when the recordings are next handed over

    def configure(self, table: dict[str, Any]) -> None:
        """A new downlink table: its rate from the next bus second, its segment size for the
        transfers that start after it."""
        self.config = replace(self.config, **table)
        self.link.rate_bps = self.config.rate_bps
        self.entity.config = replace(self.entity.config, segment_size=self.config.segment_size)

    # --- what goes down
    def send_file(self, relative: str, priority: int) -> None:
        """Queue a file of the state directory for the ground: down this link, or, with a
        relay, copied as it stands into its custody to be routed (flight/relay/snapshot.py)."""
        if not relative or "\0" in relative:
            raise DownlinkError(d.FailureCode.FILE_NAME_INVALID, f"{relative!r} is not a file name")
        pure = PurePosixPath(relative)
        path = (self.state_dir / relative).resolve()
        if pure.is_absolute() or ".." in pure.parts or not path.is_relative_to(self.state_dir):
            raise DownlinkError(d.FailureCode.FILE_NAME_INVALID, f"{relative!r} is not on board")
        if not path.is_file():
            raise DownlinkError(d.FailureCode.FILE_NOT_FOUND, f"no file {relative!r} on board")
        if self.router is None:
            self.put(path, relative, priority)
        else:
            self.router.snapshot(path, pure.as_posix(), priority)

    def put(self, path: Path, dest_name: str, priority: int) -> int:
        """Queue a file for the ground by its path (one the relay routed down this link)."""
        return self.entity.put(path, dest_name, remote_id=self.config.ground_id, priority=priority)

    def results_queued(self, job_id: str, workdir: Path) -> bool:
        """Whether a finished job's results were queued already (before a restart, say)."""
        manifest = workdir / RESULTS_MANIFEST
        return self.journal.sent_before(str(manifest.resolve())) or (
            self.router is not None and self.router.holds(f"{job_id}/{RESULTS_MANIFEST}")
        )

    def queue_results(
        self, job_id: str, workdir: Path, listed: list[dict[str, Any]], suspect: bool
    ) -> None:
        """A finished job's result files (each with its path, priority, size and SHA-256) and
        their RESULTS.json, each once (a restart does not queue them again): to the ground, or,
        with a relay, into its custody to be routed. ``suspect``: the results are not to be
        trusted (RESULTS.json says so)."""
        if self.results_queued(job_id, workdir):
            return
        manifest = workdir / RESULTS_MANIFEST
        name = f"{job_id}/{RESULTS_MANIFEST}"
        tmp = manifest.with_suffix(".tmp")
        summary = {"job_id": job_id, "suspect": suspect, "results": listed}
        write_own(tmp, json.dumps(summary, indent=1))
        os.replace(tmp, manifest)
        sync_dir(workdir)  # else a power cut can leave RESULTS.tmp and no RESULTS.json
        first = min((r["priority"] for r in listed), default=0)
        queue = self.put if self.router is None else self.router.hold
        for r in sorted(listed, key=lambda r: r["priority"]):
            path = (workdir / r["path"]).resolve()
            if not self.journal.sent_before(str(path)):
                queue(path, f"{job_id}/{r['path']}", r["priority"])
        queue(manifest.resolve(), name, first)

    def record(self, service: int, packet: bytes) -> None:
        """A telemetry packet the controller sent: stored, whatever the window (what went out
        live may have been lost on the way; the ground keeps each packet once)."""
        if service != CFDP_SERVICE:
            self.recorder.record(service, packet)

    # --- what comes up
    def receive_pdu(self, pdu: bytes) -> None:
        self.entity.now = self.now
        self.entity.receive(pdu)

    # --- each bus second
    def second(self, now: float, link_up: bool) -> list[Event]:
        """Window state, stored telemetry handed over when a window opens (and, to a relay,
        every RECORDING_S besides, to go by whichever way is soonest), timers and sending; the
        events of transactions that ended."""
        self.now = now
        opened = link_up and not self.link.up
        self.link.second(link_up)
        rotate = self.router is not None and now >= self._rotate_at
        if opened or rotate:
            self._rotate_at = now + RECORDING_S
            for path, priority in self.backlog + self.recorder.close(int(now)):
                if self.router is None:
                    self.put(path.resolve(), f"stored/{path.name}", priority)
                else:
                    self.router.hold(path.resolve(), f"stored/{path.name}", priority)
            self.backlog = []
        self.entity.poll()
        return self._events()

    def catch_up(self) -> None:
        """Between ticks, once the line has room again: send what the line held back of this
        second's share (timers, endings and their events stay with the ticks)."""
        if self.link.held:
            self.entity.send_now()

    def _events(self) -> list[Event]:
        events = []
        while self.entity.reports:
            r = self.entity.reports.popleft()
            fields = {"seq_num": r.seq_num, "name": r.dest_name or "", "size": r.size or 0}
            if r.condition != Condition.NO_ERROR or not r.delivered:
                self.failed += 1
                events.append(EV.FILE_FAILED(**fields, condition=r.condition.name))
                if r.role == SENDER:
                    self._retry(r.seq_num)
            elif r.role == SENDER:
                self.sent += 1
                events.append(EV.FILE_SENT(**fields))
                if r.source_name and r.source_name.startswith("stored-"):
                    (self.recorder.directory / r.source_name).unlink(missing_ok=True)
                sent = self.entity.finished_senders.get(r.seq_num)
                if sent is not None and (r.dest_name or "").startswith(RELAYED_PREFIX):
                    Path(sent.path).unlink(missing_ok=True)  # a neighbour's file, now down
            else:
                events.append(EV.FILE_RECEIVED(**fields))
                if self.router is not None and fields["name"].startswith(UPLINK_PREFIX) and r.path:
                    self.router.carry(Path(r.path), fields["name"])
        return events

    def _retry(self, seq_num: int) -> None:
        """A file that did not get through goes again, up to max_tries times in all, unless it
        was cancelled or is gone."""
        t = self.entity.finished_senders.pop(seq_num, None)
        if t is None or t.outcome.condition == Condition.CANCEL_REQUEST:
            return
        tries = self.tries.get(t.path, 1)
        if tries >= self.config.max_tries or not Path(t.path).is_file():
            return
        self.tries[t.path] = tries + 1
        self.entity.put(
            t.path,
            t.dest_name,
            remote_id=self.config.ground_id,
            priority=t.priority,
            source_name=t.source_name,
        )

    def housekeeping(self) -> dict[str, int]:
        counters = self.entity.counters
        return {
            "files_queued": min(
                0xFFFF,
                len(self.entity.senders)
                + len(self.entity.receivers)
                + (self.router.transactions if self.router else 0),
            ),  # fmt: skip
            "files_sent": self.sent,
            "files_failed": self.failed,
            "pdus_refused": sum(v for k, v in counters.items() if k.startswith("pdu_refused")),
            "stored_packets": self.recorder.packets,
        } | (self.router.housekeeping() if self.router else {"isl_links": 0, "relay_files": 0})

    def close(self) -> None:
        self.recorder.close_handles()
        self.journal.close()


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, as RESULTS.json lists it."""
    h = hashlib.sha256()
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:  # a FIFO cannot block
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
