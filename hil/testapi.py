"""The bench's test API: drive a running bench from ordinary (synchronous) test code, with
deadlines in bench time, the same way against a pty or a real serial port.

The steps (send a command and await its verification, await telemetry and events, upload) are the
ground's procedure API (ground/procedure.py); this adds the bench: its event loop runs in a thread
of its own, and in lockstep bus time stands still between calls and moves only while a call waits
for something, so a test is deterministic in bench time however slow the test code is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from ground.client import CommandResult, StationClient
from ground.procedure import Procedure
from hil.bench import Bench, BenchConfig, run_bench
from hil.bus_clock import BusTimeout
from hil.flight_vm import FlightVm, boot_limit_s
from hil.report import Report


class HilBench(Procedure):
    """A bench running in a background thread, for one test."""

    time_unit = "bus seconds"

    def __init__(self, config: BenchConfig) -> None:
        super().__init__()
        self.config = config
        self.report: Report | None = None
        self._bench: Bench | None = None
        self._ready = threading.Event()
        self._done: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="hil-bench", daemon=True)
        self._error: BaseException | None = None

    # --- life cycle
    def start(self) -> HilBench:
        """Start the bench; returns once the controller answers its first tick."""
        self._thread.start()
        vm = self.config.flight_vm
        limit = 60 if vm is None else 60 + boot_limit_s(vm)
        if not self._ready.wait(limit) or self._bench is None:
            raise RuntimeError(
                f"the bench did not start: {self._error or f'no answer in {limit} s'}"
            )
        return self

    @property
    def flight_vm(self) -> FlightVm | None:
        """The flight computer's virtual machine (--hil-flight-vm), for what only its guest can
        show (systemd's view, its files, faults below the controller); None without one."""
        return self._bench.processes.vm if self._bench is not None else None

    def stop(self) -> Report:
        """Stop the bench and return its report (written to the output directory)."""
        if self._loop is not None and self._done is not None:
            self._loop.call_soon_threadsafe(self._done.set)
        self._thread.join(60 if self.config.flight_vm is None else 300)
        assert self.report is not None, "the bench did not stop"
        return self.report

    def _main(self) -> None:
        try:
            self.report = asyncio.run(run_bench("pytest", self._session, self.config))
        except BaseException as exc:  # reported by start() or stop()
            self._error = exc
        finally:
            self._ready.set()

    async def _session(self, bench: Bench) -> None:
        self._done = asyncio.Event()
        self._attach(bench.bus.listeners)  # the bus sees every packet, ground or not
        await bench.housekeeping_where(lambda v: True, 30)
        await bench.bus.clock.pause()
        self._bench = bench
        self._ready.set()
        await self._done.wait()

    # --- the API beyond the procedure's steps
    @property
    def bus_time(self) -> float:
        """Seconds of bus time since the start of the run."""
        assert self._bench is not None
        return self._bench.bus.clock.announced - self.config.start_time

    # --- how the bench keeps time
    def _station(self) -> StationClient:
        assert self._bench is not None
        return self._bench.client

    async def _command_async(
        self, name: str, args: dict[str, Any] | None, within_s: float, confirm: bool
    ) -> CommandResult:
        bench = self._bench
        assert bench is not None
        self._mark = len(self.history)
        async with bench.bus.clock.hold():
            send = bench.client.command(name, args, timeout=None, confirm=confirm)
            if bench.bus.clock.lockstep:  # time stands still while the command is in flight
                return await asyncio.wait_for(send, within_s if within_s < 30 else 30)
        try:
            return await bench.bus.clock.within(send, within_s)
        except BusTimeout:
            raise TimeoutError from None

    async def _within(self, awaitable: Coroutine[Any, Any, Any], within_s: float) -> Any:
        bench = self._bench
        assert bench is not None
        bench.bus.clock.resume()
        try:
            return await bench.bus.clock.within(awaitable, within_s)
        except BusTimeout:
            raise TimeoutError from None
        finally:
            await bench.bus.clock.pause()
