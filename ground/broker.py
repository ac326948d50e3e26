"""The fleet job broker (docs/constellation.md): jobs submitted to the fleet rather than to one
spacecraft. Each job goes to the spacecraft predicted to finish it by its deadline and to bring
its results down soonest, given that spacecraft's contacts (when the job can go up, when its
results can come down), the broker's own jobs queued there, how fast its jobs have run against
their expected runtime, its GPU's health and thermal state, and safe mode. A job waits at the
station until its spacecraft is in contact, then goes up as SUBMIT_JOB; with the mesh's contact
plan (ground/mesh.py), a job for a spacecraft out of contact goes up sooner, in a consignment to
one in contact that the laser links bring there well before its own next pass, and its results
are predicted down by the mesh's routes as well as by its own passes. A job still owed after
its predicted finish is asked after (REPORT_JOB) in its spacecraft's next contact: its answer
completes it, or gives its progress, from which the finish is predicted again. A job whose
spacecraft enters safe mode, loses its GPU, stays silent through a planned contact, or is now
predicted past the deadline (it fell behind) is cancelled there and placed again where it can
still be done in time. ``round-robin`` placement (each job to the next spacecraft in turn, sent
up in that spacecraft's own contact, never moved) is the baseline the broker is measured against
(bench/fleet.py).

The broker keeps its jobs in STATE/broker.sqlite: a restarted station carries on with them. It
acts through an ``Uplink`` (the station), which sends a command to one spacecraft as the account
that submitted the job, and says what it did in one line each.
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgpack

from flight import dictionary as d
from flight.jobs.manifest import DEFAULT_PRIORITY, ManifestError, parse_manifest
from ground.mesh import Mesh
from ground.spacecraft import UPLINK_BPS

POLICIES = ("broker", "round-robin")
CONTACT_GAP_S = 30.0  # telemetry heard within this many seconds: the spacecraft is in contact
CHECK_EVERY_S = 60.0  # how often (its time) the jobs on a spacecraft are looked at again
THERMAL_SLOWDOWN = 1.5  # a thermally limited GPU's jobs take this much longer
BEHIND_SLACK = 0.25  # past its predicted finish by this share of its runtime: behind
BEHIND_MIN_S = 600.0
MESH_OCTETS = 4096  # a consignment of one SUBMIT_JOB, as the mesh's routes count it
RESULT_OCTETS = 1 << 16  # a job's results, as their way down is predicted
MESH_MARGIN_S = 300.0  # the mesh must beat the spacecraft's own pass by this much (see _by_mesh)
OPEN = ("waiting", "sent", "queued", "running")  # jobs a spacecraft still owes
_DONE_EVENTS = {"JOB_COMPLETED": "completed", "JOB_FAILED": "failed",
                "JOB_TIMED_OUT": "failed", "JOB_CANCELLED": "cancelled"}  # fmt: skip
_STATE_EVENTS = {"JOB_QUEUED": "queued", "JOB_STARTED": "running", "JOB_RESUMED": "running"}


class BrokerError(ValueError):
    """A job or a contact plan the broker cannot take; one line for the operator."""


class Uplink(Protocol):
    """What the broker needs of the station."""

    def broker_send(self, spacecraft: str, name: str, args: dict[str, Any], account: str) -> bytes:
        """Send a command to a spacecraft as an account: its request id; BrokerError (why it
        was not sent) otherwise."""
        ...

    def broker_relay(self, job: BrokerJob, carrier: str) -> bytes:
        """Send a job's files and then its SUBMIT_JOB to its spacecraft, as the account that
        submitted it, in one consignment up to ``carrier`` (the spacecraft itself, or one that
        the laser links bring it from): the SUBMIT_JOB's request id; BrokerError (why it was
        not sent) otherwise."""
        ...

    def broker_said(self, line: str) -> None:
        """One line for the operators."""
        ...


@dataclass
class BrokerJob:
    job_id: str
    manifest: dict[str, Any]
    account: str
    deadline: float | None
    expected_s: float  # its expected runtime, or its declared work where it gives none
    work_s: float  # a simulated job's declared full-power GPU seconds (0 for a process)
    submitted_at: float
    state: str = "waiting"
    spacecraft: str | None = None
    placements: int = 0
    request_id: str | None = None  # hex, of the SUBMIT_JOB that carried it up
    via: str | None = None  # the spacecraft a consignment carrying its SUBMIT_JOB went up to
    files: list[list[str]] = field(default_factory=list)  # its inputs: [path here, name on board]
    octets: int = 0  # the inputs' size
    query_id: str | None = None  # hex, of the latest REPORT_JOB that asked after it
    asked_at: float = -math.inf
    predicted_finish: float | None = None
    predicted_ground: float | None = None
    completed_at: float | None = None
    completed_on: str | None = None
    note: str = ""

    def describe(self) -> dict[str, Any]:
        """As ``fleet_jobs`` answers (docs/icd.md section 11)."""
        out = asdict(self)
        del out["manifest"], out["account"]
        return out


def _payload_order(job: BrokerJob) -> tuple[float, float, float, str]:
    """The order in which a payload starts the jobs it holds (flight/jobs/queue.py): priority
    (highest first), then the earliest deadline, then the first submitted."""
    priority = job.manifest.get("priority", DEFAULT_PRIORITY)
    deadline = math.inf if job.deadline is None else job.deadline
    return (-priority, deadline, job.submitted_at, job.job_id)


@dataclass
class Prediction:
    spacecraft: str
    uplink_at: float
    finish: float
    ground: float  # when its results are predicted on the ground


@dataclass
class _Craft:
    """What the broker knows of one spacecraft."""

    name: str
    health: Callable[[], dict[str, Any] | None]  # its latest housekeeping, decoded when asked
    heard_at: float = -math.inf  # spacecraft time of its latest live telemetry
    checked_at: float = -math.inf  # looked at when heard
    watched_at: float = -math.inf  # looked at when another was heard
    meshed_at: float = -math.inf  # asked to carry the jobs waiting for others out of contact
    ratios: list[float] = field(default_factory=list)  # runtime over expected, latest last

    def slowness(self) -> float:
        return statistics.median(self.ratios[-5:]) if self.ratios else 1.0


class ContactPlan:
    """Each spacecraft's contact windows, [start, end) in bus time, and optionally its sunlit
    stretches (a JSON file: {"spacecraft": {NAME: [[START, END], ...]}, "sunlit": {NAME:
    [[START, END], ...]}}), as ground operations predict them from the orbits; without one, the
    broker knows a spacecraft's next window only from its latest housekeeping."""

    def __init__(
        self,
        windows: dict[str, list[tuple[float, float]]],
        sunlit: dict[str, list[tuple[float, float]]] | None = None,
    ) -> None:
        self.windows = {name: sorted(spans) for name, spans in windows.items()}
        self.sunrises = {
            name: sorted(a for a, _ in spans) for name, spans in (sunlit or {}).items()
        }

    @classmethod
    def load(cls, path: Path) -> ContactPlan:
        try:
            document = json.loads(path.read_text())
            windows, sunlit = (
                {str(name): [(float(a), float(b)) for a, b in spans] for name, spans in part}
                for part in (document["spacecraft"].items(), document.get("sunlit", {}).items())
            )
        except OSError as exc:
            raise BrokerError(f"cannot read the contact plan {path}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BrokerError(
                f'{path}: not a contact plan ({{"spacecraft": {{NAME: [[START, END], ...]}}, '
                f'"sunlit": {{NAME: [[START, END], ...]}}}})'
            ) from None
        return cls(windows, sunlit)

    def next_contact(self, name: str, t: float) -> float | None:
        """The first moment from ``t`` on that ``name`` is in contact; None: none planned, or
        a spacecraft the plan does not know."""
        for start, end in self.windows.get(name, ()):
            if t < end:
                return max(t, start)
        return None

    def unbroken(self, name: str, start: float, runtime: float) -> float:
        """When a job that cannot checkpoint, started at ``start``, finishes, if its GPU's power
        breaks once an orbit, at sunrise (a battery that carried the GPU through the eclipse
        charges first): ``start + runtime`` if that comes before the next sunrise, else
        ``runtime`` from the first sunrise after which it fits before the one after; inf when
        no orbit of the plan is that long. Without the spacecraft's sunlit stretches, as
        though its power never broke."""
        rises = self.sunrises.get(name, [])
        t = start
        for rise in (r for r in rises if r > start):
            if t + runtime <= rise:
                return t + runtime
            t = rise
        orbits = [b - a for a, b in itertools.pairwise(rises)]
        return math.inf if orbits and max(orbits) < runtime else t + runtime


class JobStore:
    """The broker's jobs, kept in SQLite."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, manifest BLOB, record TEXT)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS cancels (spacecraft TEXT, job_id TEXT)")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)")
        self.db.commit()

    def save(self, job: BrokerJob) -> None:
        record = job.describe() | {"account": job.account}
        self.db.execute(
            "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)",
            (job.job_id, msgpack.packb(job.manifest), json.dumps(record)),
        )
        self.db.commit()

    def jobs(self) -> list[BrokerJob]:
        rows = self.db.execute("SELECT manifest, record FROM jobs").fetchall()
        jobs = [BrokerJob(manifest=msgpack.unpackb(m), **json.loads(r)) for m, r in rows]
        return sorted(jobs, key=lambda job: job.submitted_at)

    def cancels(self) -> list[tuple[str, str]]:
        return [tuple(r) for r in self.db.execute("SELECT spacecraft, job_id FROM cancels")]

    def set_cancels(self, cancels: list[tuple[str, str]]) -> None:
        self.db.execute("DELETE FROM cancels")
        self.db.executemany("INSERT INTO cancels VALUES (?, ?)", cancels)
        self.db.commit()

    def turn(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'turn'").fetchone()
        return int(row[0]) if row else 0

    def set_turn(self, turn: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('turn', ?)", (turn,))
        self.db.commit()

    def close(self) -> None:
        self.db.close()


class Broker:
    def __init__(
        self,
        crafts: dict[str, Callable[[], dict[str, Any] | None]],
        store: JobStore,
        uplink: Uplink,
        policy: str = "broker",
        plan: ContactPlan | None = None,
        mesh: Mesh | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise BrokerError(f"placement {policy!r}: one of {', '.join(POLICIES)}")
        self.crafts = {name: _Craft(name, health) for name, health in crafts.items()}
        self.order = list(crafts)
        self.store = store
        self.uplink = uplink
        self.policy = policy
        self.plan = plan
        self.mesh = mesh
        self.jobs = {job.job_id: job for job in store.jobs()}
        self.cancels = store.cancels()  # (spacecraft, job) to cancel when next in contact
        self.now = max((j.submitted_at for j in self.jobs.values()), default=0.0)

    # --- what operators ask
    def submit(
        self,
        manifest: Any,
        account: str,
        at: float | None = None,
        files: list[tuple[str, str]] = (),
    ) -> BrokerJob:
        """Take a job for the fleet, submitted at mission time ``at`` where the submitter gives
        it (the broker's time is the later of it and the latest telemetry's), with ``files``
        for its spacecraft's file store (each a path here, checked by the caller, and its name
        on board), which go up with its SUBMIT_JOB in one consignment: placed, and sent up if
        its spacecraft is in contact now; BrokerError (one line) if it cannot be, the job kept
        as refused (a job of that id may then be submitted again)."""
        if at is not None:
            self.now = max(self.now, at)
        try:
            spec = parse_manifest(manifest)
        except ManifestError as exc:
            raise BrokerError(f"manifest refused: {exc}") from None
        if spec.job_id in self.jobs and self.jobs[spec.job_id].state != "refused":
            raise BrokerError(f"job {spec.job_id}: the broker already has a job of that id")
        job = BrokerJob(
            spec.job_id, dict(manifest), account, spec.deadline,
            spec.expected_runtime_s or spec.simulated_work_s or spec.time_limit_s,
            spec.simulated_work_s, self.now, files=[[path, name] for path, name in files],
            octets=sum(Path(path).stat().st_size for path, _ in files),
        )  # fmt: skip
        self.jobs[job.job_id] = job
        try:
            self._place(job, exclude=None)
        except BrokerError as exc:
            job.state, job.note = "refused", str(exc)
            self.store.save(job)
            raise
        self._send_placed(job)
        return job

    def listing(self) -> list[dict[str, Any]]:
        return [job.describe() for job in self.jobs.values()]

    def summary(self) -> dict[str, Any]:
        """Counts by state, the placement policy and the re-placements (``fleet status``)."""
        states: dict[str, int] = {}
        for job in self.jobs.values():
            states[job.state] = states.get(job.state, 0) + 1
        replaced = sum(max(0, job.placements - 1) for job in self.jobs.values())
        return {"policy": self.policy, "jobs": states, "replaced": replaced}

    # --- what the spacecraft say
    def heard(self, name: str, t: float) -> None:
        """Live telemetry from a spacecraft at its time ``t`` (once a second is enough): send
        what waits for its contact, and look again at the jobs each spacecraft owes."""
        craft = self.crafts.get(name)
        if craft is None or t <= craft.heard_at:
            return
        craft.heard_at = t
        self.now = max(self.now, t)
        self._send_cancels(name)
        self._send_waiting(name)
        if self._job_mesh() is not None and t - craft.meshed_at >= CHECK_EVERY_S:
            craft.meshed_at = t
            for job in [j for j in self.jobs.values() if j.state == "waiting"]:
                if job.spacecraft != name:
                    self._by_mesh(job, [name])
        if t - craft.checked_at >= CHECK_EVERY_S:
            craft.checked_at = t
            self._check(craft)
        for other in self.crafts.values():  # those not heard: in safe mode when last heard, silent
            if other is not craft and self.now - other.watched_at >= CHECK_EVERY_S:
                other.watched_at = self.now
                self._check(other)

    def job_event(
        self, name: str, event: str, job_id: str, values: dict[str, Any], t: float
    ) -> None:
        """A job event from a spacecraft (live or played back)."""
        job = self.jobs.get(job_id)
        if job is None or job.state in ("completed", "refused"):
            return
        if event == "JOB_COMPLETED" and "runtime_s" in values and job.expected_s > 0:
            self.crafts[name].ratios.append(max(values["runtime_s"], 1.0) / job.expected_s)
        if name != job.spacecraft:  # a copy it was moved away from
            if event == "JOB_COMPLETED":  # finished there after all: that counts, once
                if job.state != "waiting":
                    self._cancel(job.spacecraft, job.job_id)
                self._completed(job, name, t)
            return
        if event in _STATE_EVENTS and job.state in OPEN:
            job.state = _STATE_EVENTS[event]
        elif event == "JOB_COMPLETED":
            self._completed(job, name, t)
        elif event in _DONE_EVENTS:
            job.state = _DONE_EVENTS[event]
            job.note = f"{event.lower()} on {name}"
            self.uplink.broker_said(f"fleet job {job_id}: {event} on {name}")
        self.store.save(job)

    def job_detail(self, name: str, detail: dict[str, Any]) -> None:
        """A spacecraft's JOB_DETAIL: the answer to the broker's asking after a job it owes."""
        job = self.jobs.get(str(detail.get("id")))
        if job is None or job.spacecraft != name or job.state not in OPEN:
            return
        state = detail.get("state")
        if state == d.JobState.COMPLETED.name:
            self._completed(job, name, float(detail.get("ended_at") or self.now))
            return
        if state in (d.JobState.FAILED.name, d.JobState.TIMED_OUT.name, d.JobState.CANCELLED.name):
            self.job_event(name, f"JOB_{state}", job.job_id, {}, self.now)
            return
        progress, run_s = detail.get("progress") or 0.0, detail.get("run_s") or 0.0
        if progress > 0:
            left = run_s * (1.0 - progress) / progress
        else:
            left = job.expected_s * self.crafts[name].slowness()
        job.predicted_finish = self.now + left
        self.store.save(job)
        if job.deadline is not None and job.predicted_finish > job.deadline:
            self._replace(job, name, f"fell behind ({100 * progress:.0f}% done)")

    def refused_on_board(self, name: str, request_id: bytes, reason: str, code: str = "") -> None:
        """A spacecraft refused a command the broker sent: a SUBMIT_JOB fails the job with its
        reason, but one that crossed the mesh and lost the race with a command sent since up
        the spacecraft's own link (AUTH_REPLAY) waits to go up again; a REPORT_JOB about a job
        it does not know says the job never arrived, and it goes up again."""
        for job in self.jobs.values():
            if job.spacecraft != name or job.state not in OPEN:
                continue
            if job.request_id == request_id.hex() and job.via and code == "AUTH_REPLAY":
                job.state, job.note = "waiting", f"overtaken on {name}: sent again"
            elif job.request_id == request_id.hex():
                job.state, job.note = "failed", f"refused by {name}: {reason}"
                self.uplink.broker_said(f"fleet job {job.job_id}: refused by {name}: {reason}")
            elif job.query_id == request_id.hex():
                job.state, job.note = "waiting", f"never arrived on {name}: sent again"
            else:
                continue
            self.store.save(job)

    # --- placing
    def predict(self, job: BrokerJob, name: str) -> Prediction | str:
        """When ``job`` would go up to, finish on and come down from spacecraft ``name``; or
        why it cannot go there."""
        craft = self.crafts[name]
        health = craft.health()
        if health is None:
            return "no housekeeping yet"
        if health["safe_mode"]:
            return "in safe mode"
        if health["governor_mode"] == d.GovernorMode.NO_GPU.name:
            return "no GPU"
        uplink_at = self._uplink_at(craft, health, job)
        if uplink_at is None:
            return "no contact ahead"
        owed = [j for j in self._owed(name) if j is not job]
        before = self._schedule(craft, health, owed, uplink_at)
        after = self._schedule(craft, health, [*owed, job], uplink_at)
        for other in owed:
            late = other.deadline is not None and after[other.job_id] > other.deadline
            if late and before[other.job_id] <= other.deadline:
                return f"it would make job {other.job_id} late"
        finish = after[job.job_id]
        if finish == math.inf:
            return (
                f"it cannot checkpoint, and its {job.expected_s:.0f} s need power without a "
                "break for longer than an orbit"
            )
        return Prediction(name, uplink_at, finish, self._down_at(craft, health, finish))

    def _uplink_at(self, craft: _Craft, health: dict[str, Any], job: BrokerJob) -> float | None:
        """When a job sent now would be on board: in the spacecraft's next contact (its inputs
        up at the uplink's rate first), or across the mesh where that is well sooner (see
        _by_mesh)."""
        own = self._next_contact(craft, health, self.now)
        if own is not None:
            own += job.octets * 8 / UPLINK_BPS
        octets = MESH_OCTETS + job.octets
        mesh = self._job_mesh()
        across = None if mesh is None else mesh.up(craft.name, self.now, octets)
        if across is not None and (own is None or across + MESH_MARGIN_S < own):
            return across
        return own

    def _down_at(self, craft: _Craft, health: dict[str, Any], t: float) -> float:
        """When results made at ``t`` reach the ground: in the spacecraft's next contact, or
        across the mesh in another's where that is sooner, as its relay routes them."""
        ways = [self._next_contact(craft, health, t)]
        if self.mesh is not None:
            ways.append(self.mesh.down(craft.name, t, RESULT_OCTETS))
        return min((w for w in ways if w is not None), default=math.inf)

    def _schedule(
        self, craft: _Craft, health: dict[str, Any], jobs: list[BrokerJob], uplink_at: float
    ) -> dict[str, float]:
        """When each of ``jobs`` would finish on ``craft``, run as its payload runs them: the one
        running first, then one at a time, each chosen when the GPU frees from those on board
        by priority (highest first), deadline and submission; a job still at the station goes
        up at ``uplink_at``."""
        slow = craft.slowness()
        if health["governor_mode"] == d.GovernorMode.THERMAL_LIMITED.name:
            slow *= THERMAL_SLOWDOWN
        free = self.now
        finishes: dict[str, float] = {}
        pending: list[tuple[float, BrokerJob]] = []
        for job in jobs:
            if job.state == "running":
                finishes[job.job_id] = max(self.now, job.predicted_finish or self.now)
                free = max(free, finishes[job.job_id])
            else:
                pending.append((uplink_at if job.state == "waiting" else self.now, job))
        while pending:
            arrived = [p for p in pending if p[0] <= free] or [min(pending, key=lambda p: p[0])]
            chosen = min(arrived, key=lambda p: _payload_order(p[1]))
            pending.remove(chosen)
            free = self._run(craft, chosen[1], max(free, chosen[0]), chosen[1].expected_s * slow)
            finishes[chosen[1].job_id] = free
        return finishes

    def _run(self, craft: _Craft, job: BrokerJob, start: float, runtime: float) -> float:
        """When a job started at ``start`` finishes: after ``runtime``, or, for one that cannot
        checkpoint, once ``runtime`` fits in one orbit's unbroken power (ContactPlan.unbroken):
        a job the governor suspends for power starts again from nothing."""
        if self.plan is None or job.manifest.get("checkpoint"):
            return start + runtime
        return self.plan.unbroken(craft.name, start, runtime)

    def _place(self, job: BrokerJob, exclude: str | None) -> None:
        if self.policy == "round-robin":
            turn = self.store.turn()
            name = self.order[turn % len(self.order)]
            self.store.set_turn(turn + 1)
            guess = self.predict(job, name)  # shown in its listing, not used to choose
            chosen = guess if isinstance(guess, Prediction) else None
        else:
            guesses = {n: self.predict(job, n) for n in self.order if n != exclude}
            able = [p for p in guesses.values() if isinstance(p, Prediction)]
            timely = [p for p in able if job.deadline is None or p.finish <= job.deadline]
            if not timely:
                raise BrokerError(self._why_not(job, guesses))
            chosen = min(timely, key=lambda p: (p.ground, p.finish, self.order.index(p.spacecraft)))
            name = chosen.spacecraft
        job.spacecraft, job.state = name, "waiting"
        job.predicted_finish = chosen.finish if chosen else None
        job.predicted_ground = chosen.ground if chosen and chosen.ground < math.inf else None
        job.placements += 1
        job.request_id = job.via = None
        self.store.save(job)
        if chosen is not None:
            self._predict_again(name, chosen.uplink_at, job)

    def _predict_again(self, name: str, uplink_at: float, placed: BrokerJob) -> None:
        """The finishes of the jobs ``name`` already owed, with ``placed`` among them (it may
        run before some of them)."""
        craft = self.crafts[name]
        health = craft.health()
        if health is None:
            return
        finishes = self._schedule(craft, health, self._owed(name), uplink_at)
        for job in self._owed(name):
            if job is not placed and job.state != "running" and finishes[job.job_id] < math.inf:
                job.predicted_finish = finishes[job.job_id]
                self.store.save(job)

    def _why_not(self, job: BrokerJob, guesses: dict[str, Prediction | str]) -> str:
        able = [p for p in guesses.values() if isinstance(p, Prediction)]
        if not able:
            why: dict[str, list[str]] = {}
            for name, reason in guesses.items():
                why.setdefault(str(reason), []).append(name)
            reasons = "; ".join(f"{', '.join(names)}: {r}" for r, names in why.items())
            return f"job {job.job_id}: no spacecraft can take it ({reasons or 'none'})"
        best = min(able, key=lambda p: p.finish)
        assert job.deadline is not None
        return (
            f"job {job.job_id}: no spacecraft can finish it by its deadline (soonest: "
            f"{best.spacecraft}, {best.finish - job.deadline:.0f} s late)"
        )

    def _job_mesh(self) -> Mesh | None:
        """The mesh jobs are sent across: the broker's placement uses it; round-robin, the
        baseline, waits for each spacecraft's own contact."""
        return self.mesh if self.policy == "broker" else None

    def _send_placed(self, job: BrokerJob) -> None:
        """Send a job just placed: up its spacecraft's link while it is in contact, else across
        the mesh from the best spacecraft in contact where that is well sooner."""
        self._send_waiting(job.spacecraft)
        if job.state == "waiting":
            self._by_mesh(job, list(self.crafts))

    def _by_mesh(self, job: BrokerJob, carriers: list[str]) -> None:
        """Send a job waiting for its spacecraft, out of contact, in a consignment up to the
        one of ``carriers`` in contact from which the laser links bring it there soonest, when
        that is MESH_MARGIN_S before the spacecraft's own next contact: a consignment that
        arrives after a command sent since up the spacecraft's own link is refused there as a
        replay (docs/constellation.md)."""
        craft = self.crafts[job.spacecraft] if job.spacecraft else None
        mesh = self._job_mesh()
        if mesh is None or craft is None:
            return
        health = craft.health()
        if health is None or self._in_contact(craft):
            return
        up = [n for n in carriers if n != craft.name and self._in_contact(self.crafts[n])]
        way = mesh.carrier(craft.name, self.now, MESH_OCTETS + job.octets, up)
        if way is None:
            return
        carrier, arrival = way
        own = self._next_contact(craft, health, self.now)
        if own is not None and arrival + MESH_MARGIN_S >= own:
            return
        if self._consign(job, carrier, arrival):
            pass_at = "none ahead" if own is None else f"{own - self.now:.0f} s"
            self.uplink.broker_said(
                f"fleet job {job.job_id}: sent to {craft.name} by way of {carrier} across the "
                f"laser links (there in {arrival - self.now:.0f} s; its own next pass: {pass_at})"
            )

    def _consign(self, job: BrokerJob, carrier: str, arrival: float) -> bool:
        """Send a job's inputs and SUBMIT_JOB in one consignment up to ``carrier``, to be on
        board at ``arrival``; whether it went (if not, the job waits, the reason its note)."""
        try:
            request = self.uplink.broker_relay(job, carrier)
        except BrokerError as exc:
            job.note = f"waits: {exc}"
            self.store.save(job)
            return False
        self._sent(job, request, carrier, arrival)
        return True

    def _send_waiting(self, name: str | None) -> None:
        """Send up the jobs waiting for ``name`` while it is in contact."""
        craft = self.crafts.get(name) if name else None
        if craft is None or not self._in_contact(craft):
            return
        for job in self._owed(name):
            if job.state != "waiting":
                continue
            if job.files:  # its inputs and SUBMIT_JOB in one consignment: the inputs first
                if not self._consign(job, name, self.now + job.octets * 8 / UPLINK_BPS):
                    return
                continue
            try:
                request = self.uplink.broker_send(
                    name, "SUBMIT_JOB", {"manifest": job.manifest}, job.account
                )
            except BrokerError as exc:
                job.note = f"waits: {exc}"
                self.store.save(job)
                return
            self._sent(job, request, None, self.now)

    def _sent(self, job: BrokerJob, request: bytes, via: str | None, arrival: float) -> None:
        """A job's SUBMIT_JOB went up (across the mesh by way of ``via``), to arrive on board
        at ``arrival``: not predicted to finish before it could have run from then."""
        job.state, job.request_id, job.via, job.note = "sent", request.hex(), via, ""
        assert job.spacecraft is not None
        earliest = arrival + job.expected_s * self.crafts[job.spacecraft].slowness()
        job.predicted_finish = max(job.predicted_finish or earliest, earliest)
        self.store.save(job)

    def _send_cancels(self, name: str) -> None:
        if not self._in_contact(self.crafts[name]):
            return
        left = []
        for where, job_id in self.cancels:
            if where != name:
                left.append((where, job_id))
                continue
            try:
                self.uplink.broker_send(name, "CANCEL_JOB", {"job_id": job_id}, "broker")
            except BrokerError:
                left.append((where, job_id))
        if left != self.cancels:
            self.cancels = left
            self.store.set_cancels(left)

    def _cancel(self, name: str | None, job_id: str) -> None:
        if name is not None and (name, job_id) not in self.cancels:
            self.cancels.append((name, job_id))
            self.store.set_cancels(self.cancels)
            self._send_cancels(name)

    def _check(self, craft: _Craft) -> None:
        """Re-place what a spacecraft in safe mode, without its GPU, or silent through a planned
        contact owes; ask after what it owes past its predicted finish."""
        owed = self._owed(craft.name)
        if not owed or self.policy != "broker":
            return
        health = craft.health()
        why = None
        if health is not None and health["safe_mode"]:
            why = "entered safe mode"
        elif health is not None and health["governor_mode"] == d.GovernorMode.NO_GPU.name:
            why = "lost its GPU"
        elif self._silent(craft):
            why = "is silent in a planned contact"
        for job in owed:
            if why is not None:
                self._replace(job, craft.name, why)
            elif self._overdue(job, craft):
                self._ask_after(job, craft.name)

    def _silent(self, craft: _Craft) -> bool:
        """Whether the contact plan has had it in contact for a while, and it has not been
        heard in that time."""
        if self.plan is None:
            return False
        since = self.now - 2 * CONTACT_GAP_S
        in_contact = self.plan.next_contact(craft.name, since) == since
        return in_contact and craft.heard_at < since

    def _overdue(self, job: BrokerJob, craft: _Craft) -> bool:
        """Sent, not yet done, its predicted finish (and some slack) past, its spacecraft heard
        from since then and in contact now, and not asked after in the last while."""
        if job.state == "waiting" or job.predicted_finish is None:
            return False
        slack = max(BEHIND_MIN_S, BEHIND_SLACK * job.expected_s)
        heard_since = craft.heard_at > job.predicted_finish + slack
        return heard_since and self._in_contact(craft) and self.now - job.asked_at > BEHIND_MIN_S

    def _ask_after(self, job: BrokerJob, name: str) -> None:
        try:
            request = self.uplink.broker_send(name, "REPORT_JOB", {"job_id": job.job_id}, "broker")
        except BrokerError:
            return
        job.query_id, job.asked_at = request.hex(), self.now
        self.store.save(job)

    def _replace(self, job: BrokerJob, name: str, reason: str) -> None:
        was = job.state
        try:
            self._place(job, exclude=name)
        except BrokerError as exc:
            job.spacecraft, job.state = name, was
            job.predicted_finish = self.now + max(BEHIND_MIN_S, BEHIND_SLACK * job.expected_s)
            self.store.save(job)
            self.uplink.broker_said(f"fleet job {job.job_id}: {name} {reason}; left there: {exc}")
            return
        if was != "waiting":
            self._cancel(name, job.job_id)
        self.uplink.broker_said(
            f"fleet job {job.job_id}: {name} {reason}; placed again on {job.spacecraft}"
        )
        self._send_placed(job)

    def _completed(self, job: BrokerJob, name: str, t: float) -> None:
        job.state, job.completed_at, job.completed_on, job.note = "completed", t, name, ""
        self.store.save(job)

    def _owed(self, name: str | None) -> list[BrokerJob]:
        return [j for j in self.jobs.values() if j.spacecraft == name and j.state in OPEN]

    def _in_contact(self, craft: _Craft) -> bool:
        """Whether a command sent now reaches the spacecraft and its answer comes down: heard
        in the last CONTACT_GAP_S, and, with a plan, in one of its windows now."""
        heard = self.now - craft.heard_at <= CONTACT_GAP_S
        return heard and (
            self.plan is None or self.plan.next_contact(craft.name, self.now) == self.now
        )

    def _next_contact(self, craft: _Craft, health: dict[str, Any], t: float) -> float | None:
        """The first moment from ``t`` the spacecraft is predicted in contact: from the plan;
        without one, now while it is heard, or its latest housekeeping's next window."""
        if self.plan is not None:
            return self.plan.next_contact(craft.name, t)
        if t - craft.heard_at <= CONTACT_GAP_S:
            return t
        link_in = health["link_in_s"]
        if link_in >= d.NONE_AHEAD:
            return None
        window = health["hk_time"] + link_in
        return window if window >= t else None
