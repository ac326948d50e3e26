"""A fleet run: several payload spacecraft against one ground station that serves them all
(``ground station --fleet``), as the HIL bench runs one (hil/bench.py). Each spacecraft has its
own line, bus, controller, space link, keys, seed and spacecraft id (161, 162, ...), runs the
scenario as a client of the station speaking for it alone, and writes its report in
OUT/scNNN; the station's state (one archive for the fleet, each spacecraft's files apart) is in
OUT/ground-state.

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
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flight.cfdp.journal import Journal
from flight.protocol.packets import split_packets
from hil.bench import BenchConfig, BenchRun, ScenarioFn, clear_stale, start_station
from hil.bus_clock import BusTimeout
from hil.environment import EnvironmentConfig
from hil.flight_vm import VmError
from hil.processes import BenchProcesses, ProcessFailed
from hil.report import Report


@dataclass
class FleetResult:
    reports: dict[Path, Report]  # each spacecraft's, by its output directory
    spacecraft: list[dict[str, Any]]  # per spacecraft: what it sent and what the station holds

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports.values()) and all(
            s["apart"] for s in self.spacecraft
        )

    def summary(self) -> str:
        lines = [report.summary(out) for out, report in self.reports.items()]
        for s in self.spacecraft:
            lines.append(
                f"{s['name']}: not checked: {s['why']}"
                if "why" in s
                else f"{s['name']}: sent {s['sent']} packets; {s['archived']} archived under "
                f"{s['scid']}, {s['not_sent']} of them not sent by it; {s['files']} files, "
                f"{s['files_not_sent']} not sent by it: {'apart' if s['apart'] else 'MIXED'}"
            )
        lines.append(f"fleet of {len(self.reports)}: {'PASSED' if self.passed else 'FAILED'}")
        return "\n".join(lines)


async def run_fleet(
    name: str, scenario: ScenarioFn, config: BenchConfig, count: int
) -> FleetResult:
    """Run the scenario on ``count`` spacecraft against one station; every report written."""
    out = config.out_dir.resolve()
    clear_stale(out, ("ground-state", "station.port", "fleet.json"))
    runs = []
    for i in range(count):
        scid = config.spacecraft_id + i
        craft = replace(
            config,
            out_dir=out / f"sc{scid}",
            spacecraft_id=scid,
            seed=config.seed + i,
            environment=_plane(config.environment, i, count),
        )
        runs.append(BenchRun(f"{name} sc{scid}", craft))
    for run in runs:
        run.prepare()
    station = BenchProcesses(out)
    try:
        for run in runs:
            await run.launch()
        fleet = _fleet_file(out, runs)
        address = await start_station(out, station, [], ["--fleet", str(fleet)])
        await asyncio.gather(
            *(
                run.drive(scenario, address, station, f"sc{run.config.spacecraft_id}")
                for run in runs
            )
        )
    except (BusTimeout, ProcessFailed, VmError) as exc:
        for run in runs:
            run.report.error = run.report.error or str(exc)
    finally:
        statuses = [await run.stop() for run in runs]
        await station.stop_all()
    reports = {run.out: run.finish(s) for run, s in zip(runs, statuses, strict=True)}
    try:
        held = kept_apart(out, runs)
    except ProcessFailed as exc:  # the station kept nothing to check (it never came up)
        held = [{"name": f"sc{r.config.spacecraft_id}", "scid": r.config.spacecraft_id,
                 "apart": False, "why": str(exc)} for r in runs]  # fmt: skip
    result = FleetResult(reports, held)
    (out / "fleet.json").write_text(
        json.dumps({"passed": result.passed, "spacecraft": result.spacecraft}, indent=2) + "\n"
    )
    return result


def _plane(environment: EnvironmentConfig, i: int, count: int) -> EnvironmentConfig:
    """The ``i``th spacecraft's environment: a circular orbit in a plane of its own, the
    ascending nodes spread evenly (its passes over the ground stations, and so its telemetry,
    its own); a TLE as it is."""
    orbit = environment.orbit
    if orbit.tle is not None:
        return environment
    return replace(environment, orbit=replace(orbit, raan_deg=orbit.raan_deg + 360.0 * i / count))


def _fleet_file(out: Path, runs: list[BenchRun]) -> Path:
    """The station's fleet file: each spacecraft's name, id, keys and space link."""
    path = out / "fleet.toml"
    entries = []
    for run in runs:
        assert run.keys is not None
        scid = run.config.spacecraft_id
        entries.append(
            f'[[spacecraft]]\nname = "sc{scid}"\nid = {scid}\nkeys = "{run.keys.ground}"\n'
            f'link = "{run.radio_address()}"\n'
        )
    path.write_text("\n".join(entries))
    return path


def kept_apart(out: Path, runs: list[BenchRun]) -> list[dict[str, Any]]:
    """Per spacecraft: the packets and files the station holds under its id that it did not
    send (none, where they are kept apart), read with the ground's own tools (``ground archive
    export --raw``, ``ground files``)."""
    state = out / "ground-state"
    everything = _archived(state, None)
    rows = []
    for run in runs:
        scid = run.config.spacecraft_id
        sent = Counter(split_packets((run.out / "tm.bin").read_bytes()))
        archived = Counter(_archived(state, scid))
        not_sent = sum((archived - sent).values())
        files, files_not_sent = _files_apart(state / f"sc{scid}", run.out / "state", sent)
        rows.append({
            "name": f"sc{scid}",
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
