"""Flash writes of the anti-replay state on a nominal day, before and after sequence windows:
the real controller (in this process, on a byte sink) is sent the nominal-day scenario's bus
ticks, one a second with its environment (eclipses, link windows, allowance), and ground
commands, each signed as the real senders sign them (sequence numbers from their clock in
microseconds, here the bus clock of a real-time day). Counted: the state file's flushes
(fdatasync), with a write for every command (reserve 0, as before) and with the default window.
Also the wall time of the day in this process (the lockstep cost of the writes).

    python bench/replay_writes.py [--hours 24] [--json FILE]

Exits 1 when the windowed day needs more than 1% of the writes of the day before.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from dataclasses import asdict  # noqa: E402

from flight import dictionary as d  # noqa: E402
from flight.board import build_board  # noqa: E402
from flight.controller import Controller  # noqa: E402
from flight.protocol.framing import frame  # noqa: E402
from flight.protocol.messages import CommandEncoder  # noqa: E402
from flight.security.keys import load_keys, provision_keys  # noqa: E402
from flight.security.replay import RESERVE  # noqa: E402
from flight.security.tc_auth import TcSigner  # noqa: E402
from hil.environment import Environment  # noqa: E402
from hil.scenario import load_scenario  # noqa: E402
from hil.scenario_run import bench_config  # noqa: E402

GROUND_EVERY_S = 300  # a ground command every 5 minutes: more than a nominal day's operations
TARGET = 0.01  # the windowed day needs at most this share of the writes of the day before


class Sink:
    def write(self, data: bytes) -> int:
        return len(data)


def day(reserve: int, seconds: int) -> dict[str, float]:
    """One day through the controller; its writes and wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        keys = provision_keys(Path(tmp) / "keys")
        state = Path(tmp) / "state"
        sink = Sink()
        board = build_board(sink, state, load_keys(keys.flight), {}, replay_reserve=reserve)
        ctl = Controller(sink, board)  # type: ignore[arg-type]
        config = bench_config(load_scenario("nominal-day"), Path(tmp))
        start = config.start_time
        environment = Environment(config.environment, start, seconds)
        now = [start]
        clock = lambda: int(now[0] * 1_000_000)  # noqa: E731
        bus = CommandEncoder(TcSigner(lambda: load_keys(keys.bus), d.SOURCE_BUS, clock), 0)
        ground = CommandEncoder(
            TcSigner(lambda: load_keys(keys.ground), d.SOURCE_GROUND, clock), d.ACK_GROUND_DEFAULT
        )
        before = ctl.auth.state.writes
        started = time.perf_counter()
        for second in range(seconds):
            now[0] = start + second + 1
            env = environment.tick(second)
            tick = asdict(env) | {"time": now[0], "sunlit": int(env.sunlit)}
            ctl.receive(frame(bus.packet("BUS_TICK", tick)))
            if second % GROUND_EVERY_S == 0:
                ctl.receive(frame(ground.packet("NOOP")))
        wall = time.perf_counter() - started
        writes = ctl.auth.state.writes - before
        assert ctl.counters.tc_accepted == -(-seconds // GROUND_EVERY_S), "commands refused"
        ctl.close()
    return {"writes": writes, "writes_per_day": writes * 86_400 / seconds, "wall_s": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    seconds = int(args.hours * 3600)
    runs = {
        "before (a write per command)": day(0, seconds),
        "windows (2^32)": day(RESERVE, seconds),
    }
    machine = f"{os.uname().machine}, {os.cpu_count()} cores"
    print(
        f"anti-replay state writes, {args.hours:g} h of bus ticks at 1 Hz, "
        f"a ground command every {GROUND_EVERY_S} s ({machine})"
    )
    print(f"{'':32} {'writes':>8} {'per day':>9} {'wall s':>8} {'ticks/s':>9}")
    for name, r in runs.items():
        print(
            f"{name:32} {r['writes']:>8} {r['writes_per_day']:>9.0f} {r['wall_s']:>8.2f} "
            f"{seconds / r['wall_s']:>9.0f}"
        )
    before, after = runs.values()
    share = after["writes"] / before["writes"]
    speed = before["wall_s"] / after["wall_s"]
    print(
        f"windows need {share:.4%} of the writes (target <= {TARGET:.0%}); "
        f"the day runs {speed:.2f}x as fast in this process"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs, "share": share, "speed": speed}, indent=1))
    return 0 if share <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
