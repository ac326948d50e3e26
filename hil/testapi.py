"""The bench's test API: drive a running bench from ordinary (synchronous) test code, with
deadlines in bench time, the same way against a pty or a real serial port.

In the spirit of fprime-gds's integration-test API. The bench's event loop runs in a thread of
its own; every call here runs a coroutine there and waits for it. In lockstep, bus time stands
still between calls and moves only while a call waits for something, so a test is deterministic in
bench time however slow the test code is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from flight.dictionary import FailureCode
from flight.protocol.messages import DecodedTelemetry
from ground.client import CommandResult
from hil.bench import Bench, BenchConfig, run_bench
from hil.bus import BusTimeout
from hil.report import Report

WALL_LIMIT_S = 120.0  # a call that has not returned by then fails the test
Match = dict[str, Any] | Callable[[DecodedTelemetry], bool] | None


def _matches(tm: DecodedTelemetry, name: str, where: Match) -> bool:
    if tm.name != name:
        return False
    if where is None:
        return True
    if callable(where):
        return bool(where(tm))
    return all(tm.values.get(k) == v for k, v in where.items())


class HilBench:
    """A bench running in a background thread, for one test."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self.history: list[DecodedTelemetry] = []
        self.report: Report | None = None
        self._mark = 0  # history index of the last command sent
        self._bench: Bench | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None
        self._done: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="hil-bench", daemon=True)
        self._error: BaseException | None = None

    # --- life cycle
    def start(self) -> HilBench:
        """Start the bench; returns once the controller answers its first tick."""
        self._thread.start()
        if not self._ready.wait(60) or self._bench is None:
            raise RuntimeError(f"the bench did not start: {self._error or 'no answer in 60 s'}")
        return self

    def stop(self) -> Report:
        """Stop the bench and return its report (written to the output directory)."""
        if self._loop is not None and self._done is not None:
            self._loop.call_soon_threadsafe(self._done.set)
        self._thread.join(60)
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
        self._loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()
        self._done = asyncio.Event()
        bench.bus.listeners.append(self._record)
        await bench.housekeeping_where(lambda v: True, 30)
        await bench.bus.pause()
        self._bench = bench
        self._ready.set()
        await self._done.wait()

    def _record(self, tm: DecodedTelemetry) -> None:
        self.history.append(tm)
        assert self._arrived is not None
        self._arrived.set()

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None
        future: Future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(WALL_LIMIT_S)

    # --- the API
    @property
    def bus_time(self) -> float:
        """Seconds of bus time since the start of the run."""
        assert self._bench is not None
        return self._bench.bus.announced - self.config.start_time

    def send_command(
        self, name: str, args: dict[str, Any] | None = None, *, within_s: float = 30
    ) -> CommandResult:
        """Send a command through the ground station and return its verification; fails the
        test unless it completes."""
        result = self._command(name, args, within_s)
        assert result.ok, result.describe()
        return result

    def assert_command_rejected(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        failure: str | None = None,
        within_s: float = 30,
    ) -> CommandResult:
        """Send a command that must fail (with ``failure``, a failure code name, if given)."""
        result = self._command(name, args, within_s)
        report = result.failure
        assert report is not None, f"{name} was not rejected: {result.describe()}"
        if failure is not None:
            assert FailureCode(report.values["code"]).name == failure, result.describe()
        return result

    def await_telemetry(
        self,
        name: str = "HOUSEKEEPING",
        where: Match = None,
        *,
        within_s: float = 30,
        since_command: bool = True,
    ) -> DecodedTelemetry:
        """The first packet named ``name`` whose values include ``where`` (a dict) or satisfy
        it (a function), received since the last command (or from now), within ``within_s``
        seconds of bus time; fails the test otherwise."""
        start = self._mark if since_command else len(self.history)
        return self._call(self._await(name, where, within_s, start))

    def await_event(
        self, name: str, where: Match = None, *, within_s: float = 30, since_command: bool = True
    ) -> DecodedTelemetry:
        """As await_telemetry, for an event by its name."""
        return self.await_telemetry(name, where, within_s=within_s, since_command=since_command)

    def upload(self, path: str | Path, name: str) -> int:
        """Have the ground station send a file to the payload's file store by CFDP; the
        transaction's sequence number (await FILE_RECEIVED for its arrival)."""
        bench = self._bench
        assert bench is not None
        self._mark = len(self.history)
        return self._call(bench.client.upload(str(Path(path).resolve()), name))

    # --- in the bench's loop
    async def _command_async(
        self, name: str, args: dict[str, Any] | None, within_s: float
    ) -> CommandResult:
        bench = self._bench
        assert bench is not None
        self._mark = len(self.history)
        async with bench.bus.hold():
            send = bench.client.command(name, args, timeout=None)
            if bench.bus.lockstep:  # time stands still while the command is in flight
                return await asyncio.wait_for(send, within_s if within_s < 30 else 30)
        return await bench.bus.within(send, within_s)

    def _command(self, name: str, args: dict[str, Any] | None, within_s: float) -> CommandResult:
        try:
            return self._call(self._command_async(name, args, within_s))
        except (BusTimeout, TimeoutError):
            raise AssertionError(f"{name}: no verification within {within_s:g} s") from None

    async def _await(
        self, name: str, where: Match, within_s: float, start: int
    ) -> DecodedTelemetry:
        bench = self._bench
        assert bench is not None and self._arrived is not None

        async def search() -> DecodedTelemetry:
            index = start
            while True:
                while index < len(self.history):
                    if _matches(self.history[index], name, where):
                        return self.history[index]
                    index += 1
                self._arrived.clear()
                await self._arrived.wait()

        bench.bus.resume()
        try:
            return await bench.bus.within(search(), within_s)
        except BusTimeout:
            raise AssertionError(
                f"no {name} matching {where} within {within_s:g} bus seconds"
            ) from None
        finally:
            await bench.bus.pause()
