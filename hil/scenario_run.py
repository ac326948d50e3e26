"""Runs a loaded scenario on the bench: the timeline at its bus seconds, then the checks.

A run may end early, at a bus second of its choosing (``until_s``): the timeline plays up to it,
and the checks are judged on what ran. A check that something never happens (a housekeeping
value never above a limit, an event at most so many times) is judged as in a whole run; a check
that something happens (at least so many events, a figure reaching a value, a job ending in a
state) that has not happened yet is not reached, neither passed nor failed.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np

from flight.dictionary import FailureCode, JobState
from flight.protocol.messages import DecodedTelemetry
from ground.client import CommandRefused
from hil.bench import Bench, BenchConfig, ScenarioFn
from hil.bus_clock import BusTimeout
from hil.gpu_figures import GpuTrack
from hil.ground_figures import GroundTrack
from hil.radiation import RadiationEnvironment
from hil.scenario import GPU_FAULTS, CheckSpec, Scenario, Step

SETTLE_TRIES = 5  # pings the end of a run may take through a lossy radio
SETTLE_S = 30  # bus seconds each is given
TAKEN_WAIT_S = 30.0  # wall seconds a fleet job sent up at once is waited for on board


class HousekeepingExtremes:
    """The lowest and highest value of every housekeeping field over a run."""

    def __init__(self) -> None:
        self.low: dict[str, float] = {}
        self.high: dict[str, float] = {}
        self.count = 0

    def update(self, tm: DecodedTelemetry) -> None:
        """A bus listener: takes every packet, keeps housekeeping."""
        if tm.name != "HOUSEKEEPING":
            return
        self.count += 1
        for key, value in tm.values.items():
            if value is None:  # not valid: not a measurement
                continue
            if value < self.low.get(key, math.inf):
                self.low[key] = value
            if value > self.high.get(key, -math.inf):
                self.high[key] = value


def scenario_runner(scenario: Scenario, until_s: float | None = None) -> ScenarioFn:
    """The coroutine function that plays ``scenario`` on a bench, ending at bus second
    ``until_s`` (None: its duration)."""
    end_s = scenario.duration_s if until_s is None else min(until_s, scenario.duration_s)

    async def run(bench: Bench) -> None:
        if end_s < scenario.duration_s:
            bench.report.ended_early = (end_s, scenario.duration_s)
        extremes = HousekeepingExtremes()
        bench.bus.listeners.append(extremes.update)
        start = bench.config.start_time
        gpu = bench.gpu = GpuTrack(start)
        bench.bus.listeners.append(gpu.update)
        ground = bench.ground = GroundTrack(lambda: bench.bus.clock.time)
        bench.bus.listeners.append(ground.passed_on)
        bench.client.listeners.append(ground.update)
        bench.client.station_listeners.append(ground.told)
        for direction in (bench.bus.serial.line.up, bench.bus.serial.line.down):
            direction.set_ber(scenario.ber)
        if scenario.gpu_ecc_per_hour and bench.config.port is None:
            bench.gpu_fault({"corrected_ecc_per_hour": scenario.gpu_ecc_per_hour})
        radiation = None
        if scenario.radiation is not None:
            clock = bench.bus.clock
            radiation = RadiationEnvironment(
                scenario.radiation,
                bench.config.seed,
                bench.state_dir,
                bench.gpu_fault,
                lambda: clock.announced,
            )
            bench.bus.listeners.append(radiation.update)
        # A constellation's workload goes to the fleet job broker, from its first satellite's run.
        fleet = bool(scenario.constellation)
        submits = not fleet or bench.config.spacecraft_id == scenario.spacecraft_id
        played = scenario.timeline + (scenario.workload if submits else ())
        mine = bench.config.spacecraft_id  # a constellation's step may be for one satellite
        steps = sorted(
            (s for s in played if s.at_s <= end_s and s.params.get("spacecraft_id", mine) == mine),
            key=lambda step: step.at_s,
        )
        for i, step in enumerate(steps):
            await bench.bus.clock.until(start + step.at_s)
            if radiation is not None and step.params.get("command") == "SUBMIT_JOB":
                manifest = radiation.submitted(step.params["args"]["manifest"])
                step = Step(step.at_s, step.action, step.params | {"args": {"manifest": manifest}})
            await _play(bench, step, fleet)
            if i + 1 == len(steps) or steps[i + 1].at_s > step.at_s:
                bench.bus.clock.resume()  # steps of one bus second all happen in that second
        await bench.bus.clock.until(start + end_s)  # in lockstep the clock stays there
        bench.extra_figures |= gpu.figures(end_s)
        if scenario.relay_windows:
            await _settle(bench)
            bench.extra_figures |= ground.figures(
                bench.bus.environment.links,
                start,
                bench.bus.clock.ticks,
                await bench.client.files(),
            )
        bench.extra_figures |= ground.result_figures()  # after the last pass's playback
        if radiation is not None:
            async with bench.bus.clock.hold():
                files = await bench.client.files()
            bench.extra_figures |= radiation.account(files)
            for upset in radiation.injections:
                bench.note(f"upset {upset.target} (seed {upset.seed}) at bus "
                           f"{upset.at - start:.0f} s, {upset.job}: {upset.outcome}")  # fmt: skip
        _judge_relayed(bench, ended_early=end_s < scenario.duration_s)
        jobs = await _job_list(bench) if any(c.kind == "job_state" for c in scenario.checks) else []
        bench.report.jobs = jobs
        for check in scenario.checks:
            passed, detail = _evaluate(check, bench, extremes, jobs)
            if not passed and end_s < scenario.duration_s and _may_yet_hold(check, detail, jobs):
                passed = None
            bench.check(check.label, passed, detail)

    return run


_FINAL_STATES = {
    JobState.COMPLETED.name,
    JobState.FAILED.name,
    JobState.CANCELLED.name,
    JobState.TIMED_OUT.name,
}


def _may_yet_hold(check: CheckSpec, detail: str, jobs: list[dict[str, Any]]) -> bool:
    """Whether a check that failed on a run ended early waits for something that may still
    happen in the rest of the scenario (a lower bound not yet reached, a job not yet ended)."""
    kind, p = check.kind, check.params
    if kind in ("hk_dips_to", "hk_peaks_at", "figure_min"):
        return True
    if kind == "event_count":
        seen = int(detail.split()[0])
        return seen < p.get("min", 1) and ("max" not in p or seen <= p["max"])
    if kind == "job_state":
        mine = [j for j in jobs if j["id"] == p["job"]]
        return not mine or mine[0]["state"] not in _FINAL_STATES
    return False


async def _play(bench: Bench, step: Step, fleet: bool = False) -> None:
    p = step.params
    if step.action == "note":
        bench.note(p["text"])
        return
    if step.action == "fault":
        _inject(bench, p)
        return
    if step.action == "workload":
        await (_submit_to_fleet if fleet else _submit_workload)(bench, p)
        return
    if step.action == "relay":
        await _relay(bench, step)
        return
    if step.action == "upload":
        await _upload(bench, step)
        return
    async with bench.bus.clock.hold():
        confirm = p.get("confirm", False)
        result = await bench.client.command(p["command"], p["args"], timeout=30, confirm=confirm)
    failure = result.failure
    if p["expect"] == "completed":
        passed = result.ok
    else:
        passed = failure is not None and (
            "failure" not in p or FailureCode(failure.values["code"]).name == p["failure"]
        )
    bench.check(f"t={step.at_s:g} s: {p['command']} {p['expect']}", passed, result.describe())


async def _upload(bench: Bench, step: Step) -> None:
    """Send a step's files to the payload's file store by the station (CFDP): job inputs."""
    local = bench.state_dir.parent / "uploads"
    local.mkdir(exist_ok=True)
    for name, text in step.params["files"]:
        (local / name).write_text(text)
        async with bench.bus.clock.hold():
            try:
                await bench.client.upload(str(local / name), name)
            except CommandRefused as exc:
                bench.check(f"t={step.at_s:g} s: upload {name}", False, str(exc))
                continue
        bench.note(f"{name} going up to the file store")


async def _relay(bench: Bench, step: Step) -> None:
    """Send a step's files and commands to its satellite in one consignment by the mesh; each
    command is judged when its verification comes down (RelayedCommands)."""
    p = step.params
    local = bench.state_dir.parent / "consignments"
    local.mkdir(exist_ok=True)
    files = []
    for name, text in p["files"]:
        (local / name).write_text(text)
        files.append((str(local / name), name))
    commands = [(name, args, False) for name, args in p["commands"]]
    label = f"t={step.at_s:g} s: relayed"
    async with bench.bus.clock.hold():
        try:
            sent = await bench.client.relay(files, commands, p.get("via"))
        except CommandRefused as exc:
            bench.check(f"{label} consignment sent", False, str(exc))
            return
    bench.note(f"consignment {sent['name']} up to {sent['via']} for the mesh")
    for (name, _), request_id in zip(p["commands"], sent["request_ids"], strict=True):
        bench.relayed.append((f"{label} {name} completed", name, bytes(request_id)))


def _judge_relayed(bench: Bench, ended_early: bool) -> None:
    """A check for each command sent by the mesh, by the verification that came down for it
    within the run (none: failed, or not reached where the run ended early)."""
    done = 0
    for label, name, request_id in bench.relayed:
        result = bench.client.result(name, request_id)
        if result.final:
            bench.check(label, result.ok, result.describe())
        else:
            why = f"no final verification came down ({result.describe()})"
            bench.check(label, None if ended_early else False, why)
        done += result.ok
    if bench.relayed:
        bench.extra_figures |= {"relayed_commands": len(bench.relayed),
                                "relayed_commands_completed": done}  # fmt: skip


def _inject(bench: Bench, p: dict[str, Any]) -> None:
    bus = bench.bus
    fault = p["fault"]
    bench.note(f"fault: {', '.join(f'{k} {v}' for k, v in p.items() if k != 'fault')} {fault}")
    sides = {
        "up": [bus.serial.line.up],
        "down": [bus.serial.line.down],
        "both": [bus.serial.line.up, bus.serial.line.down],
    }.get(p.get("direction", "up"), [])
    if fault in GPU_FAULTS:
        message = {"fault": fault.removeprefix("gpu_"), "count": p.get("count", 1)}
        bench.gpu_fault(message)
    elif fault == "ber":
        for side in sides:
            side.set_ber(p["ber"])
    elif fault in ("outage", "bus_reset", "brownout"):
        getattr(bus.faults, fault)(p["duration_s"])
    elif fault == "clock_jump":
        bus.faults.clock_jump(p["seconds"])
    elif fault == "hang_controller":
        bench.processes.pause("flight")
    elif fault == "kill_controller" and p.get("during_transfer"):
        _kill_once_transferring(bench)
    elif fault == "kill_controller":
        bench.processes.kill_and_restart("flight")
    else:
        for side in sides:
            side.inject(fault, p["count"])


def _kill_once_transferring(bench: Bench) -> None:
    """Kill the controller (and start it again) at the first second from now in which its
    housekeeping has a file transfer open, on its downlink or its laser links."""
    armed = [True]

    def watch(tm: DecodedTelemetry) -> None:
        if armed[0] and tm.name == "HOUSEKEEPING" and tm.values["files_queued"] > 0:
            armed[0] = False
            bench.note(f"controller killed with {tm.values['files_queued']} transfers open")
            figures = bench.extra_figures
            figures["controller_kills_during_transfers"] = (
                figures.get("controller_kills_during_transfers", 0) + 1
            )
            bench.processes.kill_and_restart("flight")

    bench.bus.listeners.append(watch)


async def _submit_workload(bench: Bench, p: dict[str, Any]) -> None:
    manifest = dict(p["manifest"])
    deadline = None
    if p["deadline_s"]:
        deadline = bench.bus.clock.announced + p["deadline_s"]
        manifest["deadline"] = deadline
    async with bench.bus.clock.hold():
        result = await bench.client.command("SUBMIT_JOB", {"manifest": manifest}, timeout=30)
    if result.ok:
        bench.gpu.submitted(manifest["id"], manifest["simulated"]["work_s"], deadline)
    else:
        bench.gpu.workload_rejected += 1
        bench.note(f"workload job {manifest['id']} refused: {result.describe()}")


async def _submit_to_fleet(bench: Bench, p: dict[str, Any]) -> None:
    """A workload job submitted to the fleet job broker, which places it or refuses it; either
    way it counts in the fleet's figures (``fleet_jobs``)."""
    assert bench.gpu is not None
    manifest = dict(p["manifest"])
    deadline = None
    if p["deadline_s"]:
        deadline = bench.bus.clock.announced + p["deadline_s"]
        manifest["deadline"] = deadline
    work = manifest["simulated"]["work_s"]
    bench.fleet_jobs[manifest["id"]] = (work, deadline, bench.bus.clock.announced)
    async with bench.bus.clock.hold():
        if bench.bus.clock.shared is not None:  # the broker sees every satellite at this second
            await bench.bus.clock.shared.reached(bench.bus.clock.announced)
        try:
            job = await bench.client.fleet_submit(manifest, at=bench.bus.clock.announced)
        except CommandRefused as exc:
            bench.gpu.workload_rejected += 1
            bench.note(f"fleet job {manifest['id']} refused: {exc}")
            return
        if job["state"] == "sent" and not job["via"]:  # up now: on board before the clock moves
            await _taken_on_board(bench, job["job_id"])
    way = f" by way of {job['via']}" if job["via"] else ""
    bench.note(f"fleet job {manifest['id']} placed on {job['spacecraft']}{way}")


async def _taken_on_board(bench: Bench, job_id: str) -> None:
    """Wait (the clock held) until the broker hears the job taken on board, at most
    TAKEN_WAIT_S wall seconds: what the run does next then follows from its seed alone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TAKEN_WAIT_S
    while loop.time() < deadline:
        jobs = {j["job_id"]: j for j in await bench.client.fleet_jobs()}
        if jobs[job_id]["state"] != "sent":
            return
        await asyncio.sleep(0.02)
    bench.note(f"fleet job {job_id} not heard of on board within {TAKEN_WAIT_S:g} s")


async def _settle(bench: Bench) -> None:
    """Let the station take in what the link has already carried: a ping's round trip, when a
    window is open for it (a scenario that checks the ground ends in one). The radio loses
    packets: a ping or its report lost on the way is sent again, each try given SETTLE_S bus
    seconds."""
    if not bench.bus.radio.window_open:
        return
    for _ in range(SETTLE_TRIES):
        try:
            async with bench.bus.clock.hold():
                await bench.bus.clock.within(bench.client.command("PING", timeout=None), SETTLE_S)
            return
        except BusTimeout:
            continue
    raise BusTimeout(f"no ping came back in {SETTLE_TRIES} tries of {SETTLE_S} bus seconds")


async def _job_list(bench: Bench) -> list[dict[str, Any]]:
    async with bench.bus.clock.hold():
        _, jobs = await bench.client.job_list(30)
    return jobs


def _evaluate(
    check: CheckSpec, bench: Bench, hk: HousekeepingExtremes, jobs: list[dict[str, Any]]
) -> tuple[bool, str]:
    p = check.params
    kind = check.kind
    if kind.startswith("hk_"):
        if not hk.count:
            return False, "no housekeeping received"
        lowest = kind in ("hk_min", "hk_dips_to")
        seen = hk.low[p["field"]] if lowest else hk.high[p["field"]]
        ok = {
            "hk_min": seen >= p["value"],
            "hk_max": seen <= p["value"],
            "hk_dips_to": seen <= p["value"],
            "hk_peaks_at": seen >= p["value"],
        }[kind]
        return ok, f"{'lowest' if lowest else 'highest'} {seen:g} over {hk.count} reports"
    if kind in ("env_min", "env_max"):
        env = bench.bus.environment
        series = {
            "battery_soc": env.soc,
            "power_allowance_w": env.allowance,
            "sink_temp_c": env.sink_c,
        }[p["series"]][: max(bench.bus.clock.ticks, 1)]
        seen = float(np.nanmin(series) if kind == "env_min" else np.nanmax(series))
        ok = seen >= p["value"] if kind == "env_min" else seen <= p["value"]
        return ok, f"{'lowest' if kind == 'env_min' else 'highest'} {seen:.4g}"
    if kind == "event_count":
        n = sum(
            1
            for e in bench.bus.serial.events
            if e.name == p["event"] and ("job" not in p or e.values.get("job_id") == p["job"])
        )
        return p.get("min", 1) <= n <= p.get("max", n), f"{n} seen"
    if kind == "job_state":
        mine = [j for j in jobs if j["id"] == p["job"]]
        state = mine[0]["state"] if mine else "unknown to the controller"
        return state == p["state"], f"job {p['job']}: {state}"
    figures = bench.figures()
    seen = figures.get(p["figure"])
    if seen is None:
        return False, f"no figure {p['figure']!r}; figures: {sorted(figures)}"
    ok = seen <= p["value"] if kind == "figure_max" else seen >= p["value"]
    return ok, f"{p['figure']} = {seen}"


def bench_config(
    scenario: Scenario,
    out_dir: Path,
    speed: float | str | None = None,
    seed: int | None = None,
    until_s: float | None = None,
) -> BenchConfig:
    """The bench settings of a scenario; ``speed`` (bus seconds per wall second, or "max" for
    lockstep) and ``seed`` override the file's when given; ``until_s`` ends it early."""
    chosen = scenario.speed if speed is None else (None if speed == "max" else float(speed))
    run_s = scenario.duration_s if until_s is None else min(until_s, scenario.duration_s)
    wall = 600.0 if chosen is None else max(600.0, run_s / chosen * 1.2 + 120)
    # Predictions need the orbit beyond the end: two more orbits' worth.
    return BenchConfig(
        out_dir,
        baud=scenario.baud,
        speed=chosen,
        start_time=scenario.start,
        duration_s=scenario.duration_s + 12_000,
        environment=scenario.environment,
        wall_limit_s=wall,
        seed=scenario.seed if seed is None else seed,
        relay_windows=scenario.relay_windows,
        radio=scenario.radio,
        spacecraft_id=scenario.spacecraft_id,
        watchdog_s=scenario.watchdog_s,
    )
