"""A radiation environment for the bench's simulated GPU: silent upsets (single-bit flips that
no ECC reports) at a configured rate, through the GPU's fault channel (flight/gpu/silent_upsets.py),
and the account of what became of each: caught by an integrity check, harmless, or delivered in
results the payload vouched for.

Upsets arrive as a Poisson process in bus time (seeded: a run can be repeated). Each picks a
target among those configured, where one exists at that second:

- ``weights``: the weights of the job computing now (a process job), flipped at its next step;
- ``checkpoint``: the newest checkpoint on disk of the job computing now (one that has named one);
- ``result``: a result file of a job held in VERIFYING (its results wait on board for their
  verdict). A job without a verification policy has its results checked and queued in the very
  second its process ends, so the bench has no window to hit them; the flight tests cover that
  case (tests/flight/test_result_digests.py).

What became of each, from the controller's events and its account of what it applied:

- a weight upset in a job's own run is **caught** when the job later went back past the step it
  landed at after a detection (JOB_SDC_DETECTED, then a start from an earlier checkpoint or from
  the beginning), or the job failed (no results); otherwise it is **delivered**: its effect is in
  results the payload vouched for. One in a verification run is caught when that run ended its
  comparison (it disagrees), harmless when the run was dropped first;
- a checkpoint upset is caught when JOB_CHECKPOINT_CORRUPT names it; otherwise harmless (every
  read of a checkpoint is checked, so one never read changes nothing);
- a result upset is caught when the job's results were said suspect or its runs disagreed after
  it; otherwise it is delivered.

Each job the scenario submits is given the upset box ($SIM_GPU_UPSETS: bench only). The figures,
per job: upsets delivered, and the overhead (the bus seconds it and its verification runs held
the GPU, against the mean of the jobs under no policy); and how many files the ground marked
verified from a job whose results the payload said suspect (never any). The account needs the
controller's state directory on this machine (not the flight computer VM).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from flight.gpu.silent_upsets import ACCOUNT, TARGETS, upset_box
from flight.protocol.messages import DecodedTelemetry

RESULT_FILE = "model.safetensors"  # the result a result upset hits (the GPT sample's model)
_ENDS = {"JOB_COMPLETED", "JOB_FAILED", "JOB_TIMED_OUT", "JOB_CANCELLED", "JOB_SUSPENDED",
         "JOB_REQUEUED", "JOB_VERIFYING"}  # fmt: skip
_FINAL = {"JOB_COMPLETED", "JOB_FAILED", "JOB_TIMED_OUT", "JOB_CANCELLED"}


@dataclass(frozen=True)
class RadiationConfig:
    """[radiation]: silent upsets per bus hour, and the targets they may hit."""

    upsets_per_hour: float
    targets: tuple[str, ...] = TARGETS


@dataclass
class Injection:
    """An upset sent: when, what it aimed at, the job, its seed."""

    at: float
    target: str
    job: str | None
    seed: int
    outcome: str = "not applied"


@dataclass
class _Job:
    """What the events said of one job (or verification run)."""

    last: str = ""  # its latest event's name
    starts: list[tuple[int, float]] = field(default_factory=list)  # (event index, resumed step)
    held_s: float = 0.0  # bus seconds on the GPU
    since: float | None = None
    final: str | None = None
    checkpointed: bool = False


def family(job_id: str) -> str:
    """The job a verification run (``JOB+vN``) checks; a job's own id for a job."""
    return job_id.split("+", 1)[0]


def step_of(checkpoint: str | None) -> int:
    """The step a GPT sample checkpoint name holds (``step-NNNNNNN.safetensors``); 0: none."""
    if not checkpoint:
        return 0
    return int(checkpoint.removeprefix("step-").split(".", 1)[0])


class RadiationEnvironment:
    """Sends upsets as the bus seconds pass; accounts for them at the end. ``send``: the bench's
    way to the GPU's fault channel; ``now``: bus time."""

    def __init__(
        self,
        config: RadiationConfig,
        seed: int,
        state_dir: Path,
        send: Callable[[dict[str, Any]], None],
        now: Callable[[], float],
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.rng = random.Random(seed)
        self.send = send
        self.now = now
        self.injections: list[Injection] = []
        self.jobs: dict[str, _Job] = {}
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.running: str | None = None
        self.policies: dict[str, str] = {}  # job id -> integrity policy, from its manifest

    def submitted(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """A job the scenario submits: its policy noted, and its manifest as it goes up, given
        the upset box (a process job's; a simulated job has no weights to flip)."""
        self.policies[manifest["id"]] = manifest.get("integrity", {}).get("policy", "none")
        if "command" not in manifest:
            return manifest
        box = {"SIM_GPU_UPSETS": str(upset_box(self.state_dir))}
        return manifest | {"env": manifest.get("env", {}) | box}

    def update(self, tm: DecodedTelemetry) -> None:
        """A bus listener: job events followed; one chance of an upset per housekeeping second."""
        if tm.event is not None and "job_id" in tm.values:
            self._job_event(tm.name, tm.values)
        elif tm.name == "HOUSEKEEPING" and self.rng.random() < self.config.upsets_per_hour / 3600:
            self._inject(self.rng.choice(self.config.targets), self.rng.randrange(1 << 31))

    def _job_event(self, name: str, values: dict[str, Any]) -> None:
        job_id, now = values["job_id"], self.now()
        job = self.jobs.setdefault(job_id, _Job())
        job.last = name
        self.events.append((now, name, values))
        if name == "JOB_STARTED":  # a new process: no LATEST of its own yet
            job.starts.append((len(self.events), 0))
            job.since, self.running, job.checkpointed = now, job_id, False
        elif name == "JOB_RESUMED" and job.starts:
            job.starts[-1] = (job.starts[-1][0], step_of(values["checkpoint"]))
        elif name == "JOB_CHECKPOINTED":
            job.checkpointed = True
        if name in _ENDS and job.since is not None:
            job.held_s += now - job.since
            job.since = None
            if self.running == job_id:
                self.running = None
        if name in _FINAL:
            job.final = name

    def _inject(self, target: str, seed: int) -> None:
        running = self.running
        message: dict[str, Any] = {"upset": target, "seed": seed}
        if target == "weights" and running is not None:
            job = running
        elif target == "checkpoint" and running and "+" not in running:
            job = running if self.jobs[running].checkpointed else None
            message["job"] = job
        elif target == "result":
            waiting = [j for j, s in self.jobs.items() if s.last == "JOB_VERIFYING"]
            job = self.rng.choice(sorted(waiting)) if waiting else None
            message |= {"job": job, "path": RESULT_FILE}
        else:
            job = None
        if job is None:
            return  # nothing of that kind to hit this second
        self.injections.append(Injection(self.now(), target, job, seed))
        self.send(message)

    # --- the account, at the end of the run
    def account(self, files: list[dict[str, Any]]) -> dict[str, Any]:
        """Each injection's outcome, and the figures: by target, caught, harmless and delivered
        (and pending: its job had not ended; not applied: a weight upset no job took before the
        run ended); by job, upsets
        delivered and the overhead; ``files``, the ground's (as its client lists them): how many
        it verified of a job the payload said suspect."""
        applied = self._applied(self.state_dir)
        for injection in self.injections:
            record = applied.get(injection.seed)
            if record is not None:
                injection.job = record["job"]  # a weight upset: the run that took it
                injection.outcome = self._outcome(injection, record)
        figures: dict[str, Any] = {
            "radiation_upsets": len(self.injections),
            # jobs still waiting or running when the run ended: their upsets are pending
            "radiation_jobs_unfinished": sum(
                self.jobs.get(job_id, _Job()).final is None for job_id in self.policies
            ),
        }
        for target in TARGETS:
            mine = [i for i in self.injections if i.target == target]
            for outcome in ("caught", "harmless", "delivered", "pending", "not applied"):
                key = f"radiation_{target}_{outcome.replace(' ', '_')}"
                figures[key] = sum(i.outcome == outcome for i in mine)
        for job_id in sorted(self.policies):
            figures[f"radiation_delivered_{job_id}"] = sum(
                i.outcome == "delivered" and family(i.job or "") == job_id for i in self.injections
            )
        figures |= self._overheads()
        suspect = {v["job_id"] for _, n, v in self.events if n == "JOB_RESULTS_SUSPECT"}
        figures["radiation_suspect_shown_verified"] = sum(
            f["check"] == "verified" and f["name"].split("/", 1)[0] in suspect for f in files
        )
        return figures

    def _applied(self, state_dir: Path) -> dict[int, dict[str, Any]]:
        """What the controller (checkpoints, results) and the jobs (weights) applied, by seed."""
        records: dict[int, dict[str, Any]] = {}
        account = state_dir / ACCOUNT
        lines = account.read_text().splitlines() if account.exists() else []
        for line in lines:
            record = json.loads(line)
            records[int(record["seed"])] = record
        for path in upset_box(state_dir).glob("*.applied"):
            record = json.loads(path.read_text())
            records[int(record["seed"])] = record | {"upset": "weights"}
        return records

    def _outcome(self, injection: Injection, record: dict[str, Any]) -> str:
        if injection.target == "checkpoint":
            name = record["path"].rsplit("/", 1)[-1]
            corrupt = any(
                n == "JOB_CHECKPOINT_CORRUPT" and family(v["job_id"]) == injection.job
                and v["checkpoint"] == name
                for _, n, v in self.events
            )  # fmt: skip
            return "caught" if corrupt else "harmless"
        job_id = record["job"]
        if self.jobs[family(job_id)].final is None:
            return "pending"  # its job had not ended when the run did
        if injection.target == "result":
            said = {n for t, n, v in self.events if t >= injection.at and v["job_id"] == job_id}
            caught = {"JOB_RESULTS_SUSPECT", "JOB_SDC_DETECTED"} & said
            return "caught" if caught else "delivered"
        step = int(record["step"])
        if "+" in job_id:  # a verification run: it disagrees when it ends its comparison
            return "caught" if self.jobs[job_id].final == "JOB_COMPLETED" else "harmless"
        job = self.jobs[job_id]
        mine = [n for _, n, v in self.events if v["job_id"] == job_id]
        if job.final != "JOB_COMPLETED" or "JOB_RESULTS_SUSPECT" in mine:
            return "caught"  # its results were never vouched for
        detected = False
        for index, (start, resumed) in enumerate(job.starts):
            if index < int(record["attempt"]):  # the attempt it landed in, and those before
                continue
            before = self.events[job.starts[index - 1][0] : start]
            detected = detected or any(
                n == "JOB_SDC_DETECTED" and v["job_id"] == job_id for _, n, v in before
            )
            if detected and resumed <= step:  # run again from before the step it landed at
                return "caught"
        return "delivered"

    def _overheads(self) -> dict[str, float]:
        """Bus seconds on the GPU of each job with its runs and reruns, against the mean of the
        jobs under no policy: the extra share."""
        held: dict[str, float] = {}
        for job_id, job in self.jobs.items():
            held[family(job_id)] = held.get(family(job_id), 0.0) + job.held_s
        plain = [held[j] for j, policy in self.policies.items() if policy == "none" and j in held]
        base = sum(plain) / len(plain) if plain else 0.0
        return {
            f"radiation_overhead_{job_id}": round(held[job_id] / base - 1, 4)
            for job_id in sorted(held)
            if base and job_id in self.policies
        }
