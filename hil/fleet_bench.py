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
from flight.downlink.service import GROUND_ENTITY, DownlinkConfig
from flight.relay.service import PLAN_FILE, parse_relayed
from flight.protocol.packets import split_packets
from hil.bench import BenchConfig, BenchRun, ScenarioFn, clear_stale, start_station
from hil.bus_clock import BusTimeout, ConstellationClock
from hil.environment import EnvironmentConfig
from hil.models.constellation import Satellite
from hil.isl_relay import IslRelay, flapping
from hil.models.isl import IslConfig, Topology, compute_topology, flapped
from hil.models.orbit import windows
from hil.flight_vm import VmError
from hil.fleet_report import REPORT_FILES, FleetMemberRun, write_fleet_html
from hil.processes import BenchProcesses, ProcessFailed
from hil.report import Report
from hil.routing_figures import RELAY_EVENTS, expected_results, routing_figures


GROUND_OWLT_S = 0.005  # light time to a station from low Earth orbit


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
    isl: dict[str, Any] | None = None  # the laser links' traffic (IslRelay.figures)

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
        if self.isl is not None:
            f = self.isl
            lines.append(
                f"laser traffic: {f['isl_carried']} datagrams carried "
                f"({f['isl_octets_carried']} octets), dropped: {f['isl_dropped_no_link']} with "
                f"no link, {f['isl_dropped_rate']} past a second's share, {f['isl_lost']} lost; "
                f"links of {f['isl_rate_bps']:g} bit/s carried at {f['isl_carried_bps']:g} "
                f"bit/s per bus second ({f['isl_rate_scale']:g}x scaled down)"
            )
            lines += f["isl_flapping"]
            lines.append(
                f"routing: {f['routing_results']} result files made, {f['routing_lost']} lost, "
                f"{f['routing_sha256_wrong']} with a wrong SHA-256, {f['routing_told_twice']} "
                f"told twice; {f['routing_forwarded']} passed on over laser links "
                f"({f['routing_forward_failed']} transfers failed and routed again, "
                f"{f['routing_copies_dropped']} copies dropped); {f['controller_restarts']} "
                f"controller restarts, {f['controller_kills_during_transfers']} kills with "
                f"transfers open; {f['consignments_delivered']} consignments run on board, "
                f"{f['relayed_commands_completed']} of {f['relayed_commands']} relayed commands "
                "verified"
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
    workload: bool = False,
) -> FleetResult:
    """Run the scenario on every member against one station; every report written. With
    ``isl``, the laser links' topology over the run's ``seconds`` is computed and written;
    ``placement``: the station broker's, for the fleet's ``workload`` (whether the scenario
    has one: the broker then acts on what the station hears, which in lockstep it answers
    each second before the next)."""
    out = config.out_dir.resolve()
    stale = ("ground-state", "station.port", "fleet.json", "topology.json", "contacts.json",
             "mesh.json")  # fmt: skip
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
            run.bus.radio.sync_heard = workload
    topology = lasers = None
    station_options = []
    if isl is not None:
        predicted = _topology(members, runs, isl, seconds or config.duration_s)
        plan = _relay_plan(members, runs, predicted, isl, config)  # from the geometry alone
        topology = flapped(predicted, isl.flaps)
        _write_topology(out / "topology.json", topology)
        lasers = IslRelay(topology, [m.scid for m in members], isl, config.seed, config.start_time)
        lasers.open()
        for i, (run, member) in enumerate(zip(runs, members, strict=True)):
            assert run.bus is not None
            run.bus.laser = lasers.terminal(i)
            run.flight_options = ["--isl", lasers.url(i), "--entity-id", str(member.scid)]
            (run.out / "state" / "relay").mkdir(parents=True, exist_ok=True)
            (run.out / "state" / "relay" / PLAN_FILE).write_text(plan)
        (out / "mesh.json").write_text(plan)  # the station's, to send jobs across the mesh
        station_options = ["--mesh", str(out / "mesh.json")]
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
            [
                "--fleet",
                str(fleet),
                "--placement",
                placement,
                "--contacts",
                str(plan),
                *station_options,
            ],  # fmt: skip
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
        if lasers is not None:
            lasers.close()
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
    if lasers is not None and topology is not None:
        result.isl = lasers.figures() | {"isl_flapping": flapping(topology)}
        result.isl |= _routing(out, members, runs)
    jobs = {job: v for r in runs if r.bench is not None for job, v in r.bench.fleet_jobs.items()}
    if jobs:
        end = config.start_time + (seconds or config.duration_s)
        result.work = fleet_work(jobs, runs, end) | {"fleet_placement": placement}
    verdict: dict[str, Any] = {"passed": result.passed, "wall_s": round(result.wall_s, 1)}
    if topology is not None:
        verdict["topology_changes"] = len(topology.changes)
    if result.isl is not None:
        verdict["isl"] = result.isl
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
    relays only in them, the whole run where it relays always; and its sunlit stretches."""
    plan, sunlit = {}, {}
    start = config.start_time
    for member, run in zip(members, runs, strict=True):
        assert run.environment is not None
        links = run.environment.links
        mask = links if config.relay_windows else np.ones_like(links)
        plan[member.name] = [[start + a, start + b] for a, b in windows(mask)]
        sun = windows(run.environment.track.sunlit)
        sunlit[member.name] = [[start + a, start + b] for a, b in sun]
    path.write_text(json.dumps({"spacecraft": plan, "sunlit": sunlit}) + "\n")
    return path


def _routing(out: Path, members: list[FleetMember], runs: list[BenchRun]) -> dict[str, Any]:
    """Every result each satellite's jobs left against what the station filed under it, the
    relay's events (hil/routing_figures.py), and the commands sent by the mesh that came back
    verified."""
    expected, filed, told, events = {}, {}, {}, {}
    for member, run in zip(members, runs, strict=True):
        expected[member.name] = expected_results(out / member.name / "state")
        state = out / "ground-state" / member.name
        filed[member.name] = json.loads(_ground("files", "--state", str(state), "--json"))
        told[member.name] = run.bench.ground.files_told if run.bench and run.bench.ground else {}
        events[member.name] = Counter(
            e.name for e in (run.bus.serial.events if run.bus else []) if e.name in RELAY_EVENTS
        )

    def total(figure: str) -> int:
        return sum(r.report.figures.get(figure, 0) for r in runs)

    return routing_figures(expected, filed, told, events) | {
        figure: total(figure)
        for figure in ("controller_restarts", "controller_kills_during_transfers",
                       "relayed_commands", "relayed_commands_completed")
    }  # fmt: skip


def _relay_plan(
    members: list[FleetMember],
    runs: list[BenchRun],
    topology: Topology,
    isl: IslConfig,
    config: BenchConfig,
) -> str:
    """The contact plan the payloads route over (flight/relay), as operations would load it
    before the run: each laser link while the topology has it up, at the rate the bench
    carries and its light time when it comes up; each satellite's passes (its link windows,
    or the whole run where the bus relays always), at its downlink's share of the radio."""
    after = config.start_time + 1  # the link state of tick k is that of bus second start + k + 1
    contacts = []
    for (i, j), spans in sorted(topology.intervals.items()):
        for s, e in spans:
            contacts.append({
                "between": [members[i].scid, members[j].scid], "start": after + s,
                "end": after + e, "rate_bps": isl.carried_bps,
                "owlt_s": round(topology.delay_s(i, j, s), 6),
            })  # fmt: skip
    share = DownlinkConfig.shipped().rate_bps
    for member, run in zip(members, runs, strict=True):
        assert run.environment is not None
        links = run.environment.links
        mask = links if config.relay_windows else np.ones_like(links)
        for s, e in windows(mask):
            contacts.append({
                "between": [member.scid, GROUND_ENTITY], "start": after + s, "end": after + e,
                "rate_bps": share, "owlt_s": GROUND_OWLT_S,
            })  # fmt: skip
    return json.dumps({"contacts": contacts}) + "\n"


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
    down = _downlinked(out, members)
    rows = []
    for member in members:
        scid, run_out = member.scid, out / member.name
        sent = Counter(split_packets((run_out / "tm.bin").read_bytes()))
        archived = Counter(_archived(state, scid))
        not_sent = sum((archived - sent).values())
        files, files_not_sent = _files_apart(state / member.name, down[scid], sent)
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


def _downlinked(out: Path, members: list[FleetMember]) -> dict[int, Counter[tuple[str, int]]]:
    """Per spacecraft id: the files (name, size) that went down to the ground as it made them,
    by its own downlink or, relayed across the laser mesh (relay/ID/NAME), by another's."""
    down: dict[int, Counter[tuple[str, int]]] = {m.scid: Counter() for m in members}
    for member in members:
        journal = Journal(out / member.name / "state" / "downlink" / "cfdp.sqlite")
        for r in journal.history():
            if r.role == "send" and r.delivered and r.dest_name:
                origin, name = parse_relayed(r.dest_name) or (member.scid, r.dest_name)
                down.setdefault(origin, Counter())[(name, r.size)] += 1
        journal.close()
    return down


def _files_apart(
    ground: Path, transfers: Counter[tuple[str, int]], sent: Counter[bytes]
) -> tuple[int, int]:
    """The files the station filed for a spacecraft, and how many of them it did not make: a
    name and size no delivered transfer of its (``transfers``) carried, or stored telemetry
    holding a packet it never sent."""
    rows = [
        r for r in json.loads(_ground("files", "--state", str(ground), "--json")) if r["delivered"]
    ]
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
