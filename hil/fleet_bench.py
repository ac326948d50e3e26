"""A fleet run: several payload spacecraft against one ground station that serves them all
(``ground station --fleet``), as the HIL bench runs one (hil/bench.py). Each spacecraft has its
own line, bus, controller, space link, keys, seed, spacecraft id (161, 162, ...) and orbit, runs
the scenario as a client of the station speaking for it alone, and writes its report in
OUT/NAME; the station's state (one archive for the fleet, each spacecraft's files apart) is in
OUT/ground-state. The fleet is a constellation's satellites (NAME as the constellation names
them), or ``--fleet N`` spacecraft scNNN in planes of their own. In lockstep every bus steps
through bus time with the others on one ConstellationClock. A constellation's laser links are
computed from its geometry for the run (hil/models/isl.py): OUT/topology.json holds every
change of the topology. A constellation's workload goes to the station's fleet job broker
(ground/broker.py), placed by its predictions or, as the baseline, round-robin; the broker is
given the contact plan of the run (OUT/contacts.json, each satellite's windows from its orbit),
and the fleet's figures say how much of the work was done by its deadlines and how long results
took to reach the ground.

Once the run ends, what the station holds under each spacecraft is checked, with the ground's
own command line, against what that spacecraft sent: every packet archived under its id is one
it sent (counted, so that a packet another spacecraft sent too, octet for octet, still cannot
land twice), no packet is archived under an id the fleet does not have, and every file filed
under it is one its payload sent.
OUT/fleet.json holds the verdicts.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from flight.cfdp.journal import Journal
from flight.protocol.packets import split_packets
from hil.bench import BenchConfig, BenchRun, ScenarioFn, clear_stale, start_station
from hil.bus_clock import BusTimeout, ConstellationClock
from hil.environment import EnvironmentConfig
from hil.models.constellation import Satellite
from hil.models.isl import IslConfig, Topology, compute_topology
from hil.models.orbit import windows
from hil.flight_vm import VmError
from hil.fleet_report import REPORT_FILES, FleetMemberRun, write_fleet_html
from hil.processes import BenchProcesses, ProcessFailed
from hil.report import Report


@dataclass(frozen=True)
class FleetMember:
    """One spacecraft of a fleet run: its name (and output directory), id and environment."""

    name: str
    scid: int
    environment: EnvironmentConfig


@dataclass
class FleetResult:
    reports: dict[Path, Report]  # each spacecraft's, by its output directory
    spacecraft: list[dict[str, Any]]  # per spacecraft: what it sent and what the station holds
    topology: Topology | None = None  # a constellation's laser links
    wall_s: float = 0.0
    work: dict[str, Any] | None = None  # the fleet workload's figures (fleet_work)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports.values()) and all(
            s["apart"] for s in self.spacecraft
        )

    def summary(self) -> str:
        lines = [report.summary(out) for out, report in self.reports.items()]
        for out, report in self.reports.items():
            if report.figures.get("ticks_unanswered"):
                lines.append(f"{out.name}: {report.figures['ticks_unanswered']} ticks unanswered "
                             "(when: its report's timeline)")  # fmt: skip
        for s in self.spacecraft:
            lines.append(
                f"{s['name']}: not checked: {s['why']}"
                if "why" in s
                else f"{s['name']}: sent {s['sent']} packets; {s['archived']} archived under "
                f"{s['scid']}, {s['not_sent']} of them not sent by it; {s['files']} files, "
                f"{s['files_not_sent']} not sent by it: {'apart' if s['apart'] else 'MIXED'}"
            )
        if self.topology is not None:
            counts = self.topology.link_counts()
            lines.append(
                f"laser links: {len(self.topology.changes)} topology changes, "
                f"{int(counts.max()) if len(counts) else 0} links at most at once "
                "(OUT/topology.json)"
            )
        if self.work is not None:
            w = self.work
            latency = w["fleet_result_latency_median_s"]
            lines.append(
                f"fleet workload ({w['fleet_placement']} placement): {w['fleet_jobs']} jobs, "
                f"{w['fleet_jobs_refused']} refused; {w['fleet_work_by_deadline_s']:.0f} of "
                f"{w['fleet_work_submitted_s']:.0f} GPU-seconds done by their deadlines; median "
                f"result latency to the ground "
                f"{'-' if latency is None else f'{latency:.0f} s'}"
            )
        lines.append(
            f"fleet of {len(self.reports)}: {'PASSED' if self.passed else 'FAILED'} "
            f"in {self.wall_s:.0f} s of wall time; report: OUT/fleet.html (plots)"
        )
        return "\n".join(lines)


def spread_fleet(config: BenchConfig, count: int) -> list[FleetMember]:
    """``count`` spacecraft scNNN, each in a circular orbit of a plane of its own, the ascending
    nodes spread evenly (their passes, and so their telemetry, their own); a TLE as it is."""
    members = []
    for i in range(count):
        environment, orbit = config.environment, config.environment.orbit
        if orbit.tle is None:
            raan = orbit.raan_deg + 360.0 * i / count
            environment = replace(environment, orbit=replace(orbit, raan_deg=raan))
        scid = config.spacecraft_id + i
        members.append(FleetMember(f"sc{scid}", scid, environment))
    return members


def constellation_fleet(
    config: BenchConfig, satellites: tuple[Satellite, ...]
) -> list[FleetMember]:
    """A constellation's satellites, ids from the scenario's spacecraft id on."""
    return [
        FleetMember(s.name, config.spacecraft_id + i, replace(config.environment, orbit=s.orbit))
        for i, s in enumerate(satellites)
    ]


async def run_fleet(
    name: str,
    scenario: ScenarioFn,
    config: BenchConfig,
    members: list[FleetMember],
    isl: IslConfig | None = None,
    seconds: int | None = None,
    placement: str = "broker",
) -> FleetResult:
    """Run the scenario on every member against one station; every report written. With
    ``isl``, the laser links' topology over the run's ``seconds`` is computed and written;
    ``placement``: the station broker's, for the fleet's workload."""
    out = config.out_dir.resolve()
    stale = ("ground-state", "station.port", "fleet.json", "topology.json", "contacts.json")
    clear_stale(out, (*stale, *REPORT_FILES))
    wall0 = time.monotonic()
    runs = []
    for i, member in enumerate(members):
        craft = replace(
            config,
            out_dir=out / member.name,
            spacecraft_id=member.scid,
            seed=config.seed + i,
            environment=member.environment,
            wall_limit_s=config.wall_limit_s * len(members),  # they share the machine
        )
        runs.append(BenchRun(f"{name} {member.name}", craft))
    clock = ConstellationClock()
    for run in runs:
        run.prepare()
        if config.speed is None:
            assert run.bus is not None
            clock.join(run.bus.clock)
    topology = None
    if isl is not None:
        topology = _topology(members, runs, isl, seconds or config.duration_s)
        _write_topology(out / "topology.json", topology)
    station = BenchProcesses(out)

    async def drive(run: BenchRun, member: FleetMember, address: str) -> None:
        try:
            await run.drive(scenario, address, station, member.name)
        finally:  # however it ended, the others no longer wait for its clock
            assert run.bus is not None
            clock.leave(run.bus.clock)

    try:
        for run in runs:
            await run.launch()
        fleet = _fleet_file(out, runs, members)
        plan = _contact_plan(out / "contacts.json", members, runs, config)
        address = await start_station(
            out,
            station,
            [],
            ["--fleet", str(fleet), "--placement", placement, "--contacts", str(plan)],
        )
        await asyncio.gather(
            *(drive(run, member, address) for run, member in zip(runs, members, strict=True))
        )
    except (BusTimeout, ProcessFailed, VmError) as exc:
        for run in runs:
            run.report.error = run.report.error or str(exc)
    finally:
        statuses = [await run.stop() for run in runs]
        await station.stop_all()
    reports = {run.out: run.finish(s) for run, s in zip(runs, statuses, strict=True)}
    try:
        held = kept_apart(out, members)
    except ProcessFailed as exc:  # the station kept nothing to check (it never came up)
        held = [{"name": m.name, "scid": m.scid, "apart": False, "why": str(exc)} for m in members]
    runs_up = [
        FleetMemberRun(
            m.name,
            r.environment,
            r.bus.serial.events,
            r.report,
            r.bench.ground.results if r.bench and r.bench.ground else {},
        )  # fmt: skip
        for m, r in zip(members, runs, strict=True)
        if r.environment is not None and r.bus is not None
    ]
    write_fleet_html(out, name, runs_up, topology, seconds or config.duration_s, config.start_time)
    result = FleetResult(reports, held, topology, time.monotonic() - wall0)
    jobs = {job: v for r in runs if r.bench is not None for job, v in r.bench.fleet_jobs.items()}
    if jobs:
        end = config.start_time + (seconds or config.duration_s)
        result.work = fleet_work(jobs, runs, end) | {"fleet_placement": placement}
    verdict: dict[str, Any] = {"passed": result.passed, "wall_s": round(result.wall_s, 1)}
    if topology is not None:
        verdict["topology_changes"] = len(topology.changes)
    if result.work is not None:
        verdict["workload"] = result.work
    verdict["spacecraft"] = result.spacecraft
    (out / "fleet.json").write_text(json.dumps(verdict, indent=2) + "\n")
    return result


def fleet_work(
    jobs: dict[str, tuple[float, float | None, float]], runs: list[BenchRun], end: float
) -> dict[str, Any]:
    """The fleet workload's figures: its jobs (work, deadline, submitted at; the broker's
    refusals among them), each counted once, done where it first completed on board (a job
    placed again may complete twice); the GPU-seconds done by their deadlines; and the median
    result latency to the ground, the bus seconds from a job's submission to its JOB_COMPLETED
    reaching the station's client, a job whose result is not down by the run's ``end`` (a
    refused one too) counted as down at the end (a lower bound)."""
    completed: dict[str, float] = {}
    down: dict[str, float] = {}
    for run in runs:
        if run.bench is None or run.bench.gpu is None or run.bench.ground is None:
            continue
        seen = run.bench.ground.results
        for job, t in run.bench.gpu.completed_at.items():
            if job in jobs and t < completed.get(job, float("inf")):
                completed[job] = t
                down[job] = sum(seen[job]) if job in seen else end
    latency = [down.get(job, end) - submitted for job, (_, _, submitted) in jobs.items()]
    on_time = [
        work for job, (work, deadline, _) in jobs.items()
        if job in completed and (deadline is None or completed[job] <= deadline)
    ]  # fmt: skip
    refused = sum(r.bench.gpu.workload_rejected for r in runs if r.bench and r.bench.gpu)
    return {
        "fleet_jobs": len(jobs),
        "fleet_jobs_refused": refused,
        "fleet_jobs_completed": len(completed),
        "fleet_jobs_by_deadline": len(on_time),
        "fleet_work_submitted_s": round(sum(work for work, _, _ in jobs.values()), 1),
        "fleet_work_by_deadline_s": round(sum(on_time), 1),
        "fleet_result_latency_median_s": round(statistics.median(latency), 1) if latency else None,
    }


def _contact_plan(
    path: Path, members: list[FleetMember], runs: list[BenchRun], config: BenchConfig
) -> Path:
    """OUT/contacts.json: each member's contact windows in bus time, as ground operations
    predict them from the orbits (the broker's contact plan): its link windows where the bus
    relays only in them, the whole run where it relays always."""
    plan = {}
    for member, run in zip(members, runs, strict=True):
        assert run.environment is not None
        links = run.environment.links
        mask = links if config.relay_windows else np.ones_like(links)
        start = config.start_time
        plan[member.name] = [[start + a, start + b] for a, b in windows(mask)]
    path.write_text(json.dumps({"spacecraft": plan}) + "\n")
    return path


def _topology(
    members: list[FleetMember], runs: list[BenchRun], isl: IslConfig, seconds: int
) -> Topology:
    """The laser links of the run's first ``seconds``, from each member's orbit track."""
    tracks = []
    for run in runs:
        assert run.environment is not None
        tracks.append(run.environment.track.position_km[:seconds])
    return compute_topology([m.name for m in members], tracks, isl)


def _write_topology(path: Path, topology: Topology) -> None:
    """OUT/topology.json: the satellites, each link's up intervals and every change."""
    path.write_text(
        json.dumps(
            {
                "satellites": topology.names,
                "links": [
                    {"a": topology.names[i], "b": topology.names[j], "up": spans}
                    for (i, j), spans in sorted(topology.intervals.items())
                ],
                "changes": [
                    {"t_s": c.t_s, "up": c.up, "a": c.a, "b": c.b, "range_km": round(c.range_km, 1)}
                    for c in topology.changes
                ],
            },
            indent=1,
        )
        + "\n"
    )


def _fleet_file(out: Path, runs: list[BenchRun], members: list[FleetMember]) -> Path:
    """The station's fleet file: each spacecraft's name, id, keys and space link."""
    path = out / "fleet.toml"
    entries = []
    for run, member in zip(runs, members, strict=True):
        assert run.keys is not None
        entries.append(
            f'[[spacecraft]]\nname = "{member.name}"\nid = {member.scid}\n'
            f'keys = "{run.keys.ground}"\nlink = "{run.radio_address()}"\n'
        )
    path.write_text("\n".join(entries))
    return path


def kept_apart(out: Path, members: list[FleetMember]) -> list[dict[str, Any]]:
    """Per spacecraft: the packets and files the station holds under its id that it did not
    send (none, where they are kept apart), read with the ground's own tools (``ground archive
    export --raw``, ``ground files``); each member's run in OUT/NAME."""
    state = out / "ground-state"
    everything = _archived(state, None)
    rows = []
    for member in members:
        scid, run_out = member.scid, out / member.name
        sent = Counter(split_packets((run_out / "tm.bin").read_bytes()))
        archived = Counter(_archived(state, scid))
        not_sent = sum((archived - sent).values())
        files, files_not_sent = _files_apart(state / member.name, run_out / "state", sent)
        rows.append({
            "name": member.name,
            "scid": scid,
            "sent": sum(sent.values()),
            "archived": sum(archived.values()),
            "not_sent": not_sent,
            "files": files,
            "files_not_sent": files_not_sent,
        })  # fmt: skip
    strangers = len(everything) - sum(r["archived"] for r in rows)  # under ids not the fleet's
    for row in rows:
        row["strangers"] = strangers
        row["apart"] = row["not_sent"] == 0 and row["files_not_sent"] == 0 and strangers == 0
    return rows


def _archived(state: Path, scid: int | None) -> list[bytes]:
    """The packets the station archived (under one spacecraft id, if given)."""
    raw = state / f"archived-{scid if scid is not None else 'all'}.tm"
    which = [] if scid is None else ["--spacecraft", str(scid)]
    _ground("archive", "export", "--state", str(state), *which, "--raw", str(raw))
    return split_packets(raw.read_bytes())


def _files_apart(ground: Path, payload: Path, sent: Counter[bytes]) -> tuple[int, int]:
    """The files the station filed for a spacecraft, and how many of them its payload did not
    send: a name and size its CFDP history has no delivered transfer of, or stored telemetry
    holding a packet it never sent."""
    rows = [
        r for r in json.loads(_ground("files", "--state", str(ground), "--json")) if r["delivered"]
    ]
    journal = Journal(payload / "downlink" / "cfdp.sqlite")
    transfers = Counter(
        (r.dest_name, r.size) for r in journal.history() if r.role == "send" and r.delivered
    )
    journal.close()
    foreign = 0
    for row in rows:
        if transfers[(row["name"], row["size"])] < 1:
            foreign += 1
            continue
        transfers[(row["name"], row["size"])] -= 1
        if row["name"].startswith("stored/"):
            stored = split_packets((ground / "files" / row["name"]).read_bytes())
            foreign += any(raw not in sent for raw in stored)
    return len(rows), foreign


def _ground(*args: str) -> str:
    """The ground's command line, run to read the station's state; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "ground", *args], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise ProcessFailed(f"ground {' '.join(args[:2])}: {done.stderr.strip()}")
    return done.stdout
