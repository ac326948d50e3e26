"""The controller is killed with SIGKILL at random instants while it takes and runs a job mix, and
started again on the same state directory, N times (--crash-runs, 200 in the full run): no job it
accepted is lost, none runs twice to completion.

Real processes: the controller (python -m flight run) on a pty, the jobs through their
supervisors; every job appends its id to a ledger outside the state directory as its last act, so
the ledger counts completions whatever the controller remembers.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from flight import dictionary as d
from flight.protocol.framing import Deframer, frame
from flight.protocol.messages import CommandEncoder, decode_telemetry
from flight.protocol.packets import parse_packet
from hil.serial_link import PtyLink
from tests.flight.conftest import bus_tick_args, controller_process, signed_job, signer

START = 1_767_225_600
JOBS = {
    "quick": 'echo "$JOB_ID" >> "$LEDGER"\n',
    "steps": (
        "n=0\n"
        '[ -n "$JOB_RESUME" ] && n=$(cat "$JOB_RESUME")\n'
        'ck() { echo $n > "$JOB_CHECKPOINT_DIR/s$n"; echo s$n > "$JOB_CHECKPOINT_DIR/LATEST"; }\n'
        "trap ck USR1\n"
        'touch "$JOB_READY_FILE"\n'
        "while [ $n -lt 6 ]; do n=$((n+1)); sleep 0.02; done\n"
        'echo "$JOB_ID" >> "$LEDGER"\n'
    ),
    "flaky": '[ "$JOB_ATTEMPT" = 1 ] && exit 3\necho "$JOB_ID" >> "$LEDGER"\n',
}


class Bus:
    """The test's end of the link: sends commands, records the telemetry that comes back."""

    def __init__(self) -> None:
        self.link = PtyLink.open()
        self.encoder = CommandEncoder(signer(d.SOURCE_GROUND), d.ACK_GROUND_DEFAULT)
        self.ticks = CommandEncoder(signer(d.SOURCE_BUS), 0)
        self.time = START
        self.queued: set[str] = set()
        self.hk_times: set[float] = set()
        self.starts = 0
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        deframer = Deframer()
        while True:
            try:
                data = os.read(self.link.master_fd, 65536)
            except OSError:
                return
            for raw in deframer.feed(data):
                tm = decode_telemetry(parse_packet(raw))
                with self.arrived:
                    if tm.name == "JOB_QUEUED":
                        self.queued.add(tm.values["job_id"])
                    elif tm.name == "CONTROLLER_STARTED":
                        self.starts += 1
                    elif tm.name == "SEQUENCE_FLOOR":  # before CONTROLLER_STARTED
                        for encoder in (self.encoder, self.ticks):
                            encoder.signer.heard_floor(tm.values["key_id"], tm.values["floor"])

                    elif tm.name == "HOUSEKEEPING":
                        self.hk_times.add(tm.packet.time)
                    self.arrived.notify_all()

    def send(self, name: str, args: dict | None = None, bus: bool = False) -> None:
        encoder = self.ticks if bus else self.encoder
        os.write(self.link.master_fd, frame(encoder.packet(name, signed_job(name, args))))

    def tick(self) -> float:
        self.time += 1
        self.send("BUS_TICK", bus_tick_args(self.time, 300.0), bus=True)
        return self.time

    def tick_and_wait(self, timeout: float = 20.0) -> None:
        t = self.tick()
        with self.arrived:
            assert self.arrived.wait_for(lambda: t in self.hk_times, timeout), "no housekeeping"


def start_controller(bus: Bus, state: Path) -> subprocess.Popen:
    """Start the controller and wait until it listens (opening the port flushes its input)."""
    with bus.arrived:
        starts = bus.starts
    controller = controller_process(bus.link.slave_path, state)
    with bus.arrived:
        assert bus.arrived.wait_for(lambda: bus.starts > starts, 30), "the controller never started"
    return controller


def test_sigkill_at_random_instants_loses_no_job_and_runs_none_twice(tmp_path, request):
    runs = request.config.getoption("--crash-runs")
    rng = random.Random(20261124)
    state, ledger = tmp_path / "state", tmp_path / "ledger"
    (state / "bin").mkdir(parents=True)
    for name, script in JOBS.items():
        path = state / "bin" / name
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)
    bus = Bus()
    submitted = 0
    try:
        for _ in range(runs):
            controller = start_controller(bus, state)
            bus.tick_and_wait()
            bus.send("SAFE_MODE_EXIT")  # the crash loop is this test's doing: the ground clears it
            for _ in range(rng.randint(1, 6)):
                if rng.random() < 0.5:
                    kind = rng.choice(list(JOBS))
                    manifest = {
                        "id": f"{kind}-{submitted}",
                        "command": [kind],
                        "env": {"LEDGER": str(ledger)},
                        "max_retries": 2,
                        "checkpoint": {"interval_s": 1, "cost_s": 0},
                    }
                    submitted += 1
                    bus.send("SUBMIT_JOB", {"manifest": manifest})
                else:
                    bus.tick()
            time.sleep(rng.uniform(0.0, 0.03))
            controller.send_signal(signal.SIGKILL)
            controller.wait()
        controller = start_controller(bus, state)
        bus.tick_and_wait()
        bus.send("SAFE_MODE_EXIT")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            bus.tick_and_wait()
            states = dict(
                sqlite3.connect(state / "jobs.sqlite").execute("SELECT id, state FROM jobs")
            )
            if all(s == d.JobState.COMPLETED for s in states.values()):
                break
            time.sleep(0.02)
        controller.send_signal(signal.SIGTERM)
        controller.wait(30)
    finally:
        bus.link.close()
    completions = collections.Counter(ledger.read_text().split()) if ledger.exists() else {}
    assert bus.queued, "no submission was ever acknowledged"
    lost = bus.queued - set(states)
    assert not lost, f"accepted jobs lost: {sorted(lost)}"
    unfinished = {i: d.JobState(s).name for i, s in states.items() if s != d.JobState.COMPLETED}
    assert not unfinished, f"jobs not completed: {unfinished}"
    twice = {i: n for i, n in completions.items() if n > 1}
    assert not twice, f"jobs run twice to completion: {twice}"
    assert set(completions) == set(states)
    print(
        f"\n{runs} SIGKILLs; {submitted} submissions sent, {len(bus.queued)} acknowledged, "
        f"{len(states)} accepted; {sum(completions.values())} completions, none twice"
    )
