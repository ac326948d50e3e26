"""The processes of a bench run: the flight controller and the ground station, each logging to a
file in the output directory, stopped with SIGTERM (then SIGKILL) when the run ends."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

STOP_GRACE_S = 5.0


class ProcessFailed(Exception):
    """A process of the bench exited or did not come up; the message names it and its log."""


class BenchProcesses:
    """Starts and stops the bench's child processes."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        """Start ``python -m <args>`` with its output in <out>/<name>.log."""
        env = dict(os.environ, PYTHONSAFEPATH="1", PYTHONUNBUFFERED="1")
        with open(self.out_dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", *args],
                cwd=self.out_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs[name] = proc
        return proc

    def check_alive(self) -> None:
        """ProcessFailed if any process has exited."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise ProcessFailed(
                    f"{name} exited with status {proc.returncode} "
                    f"(see {self.out_dir / (name + '.log')})"
                )

    async def wait_for_file(self, path: Path, timeout: float) -> str:
        """The content of a file a process writes once ready."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not path.exists():
            self.check_alive()
            if loop.time() > deadline:
                raise ProcessFailed(f"{path.name} did not appear within {timeout:g} s")
            await asyncio.sleep(0.02)
        return path.read_text()

    def stop_all(self) -> dict[str, int]:
        """Stop every process; their exit statuses."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        statuses = {}
        for name, proc in self.procs.items():
            try:
                statuses[name] = proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                statuses[name] = proc.wait()
        return statuses
