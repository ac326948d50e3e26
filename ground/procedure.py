"""Operations procedures in plain Python: send a command and await its verification, await
telemetry and events, upload files; synchronous, with deadlines.

One API for both places procedures run: against a ground station (``StationProcedure``, deadlines
in wall-clock seconds) and on the HIL bench (``hil.testapi.HilBench``, deadlines in bench time),
in the spirit of fprime-gds's integration-test API. The station client lives in an event loop on a
thread of its own; each call runs a coroutine there and waits for it. A step that does not go as
required raises ProcedureError (an AssertionError, so pytest reports it as a failure).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from flight.dictionary import FailureCode
from flight.protocol.messages import DecodedTelemetry
from ground.client import CommandResult, StationClient, StationUnreachable

WALL_LIMIT_S = 120.0  # a call that has not returned by then has failed
HELLO_S = 10.0  # a station says hello at once
Match = dict[str, Any] | Callable[[DecodedTelemetry], bool] | None


class ProcedureError(AssertionError):
    """A procedure step did not go as required (a command failed, telemetry did not come)."""


def matches(tm: DecodedTelemetry, name: str, where: Match) -> bool:
    """Whether a packet is named ``name`` and its values include ``where`` (a dict) or satisfy
    it (a function)."""
    if tm.name != name:
        return False
    if where is None:
        return True
    if callable(where):
        return bool(where(tm))
    return all(tm.values.get(k) == v for k, v in where.items())


class Procedure:
    """The steps; subclasses provide the station client, its loop and how deadlines are kept."""

    time_unit = "s"

    def __init__(self) -> None:
        self.history: list[DecodedTelemetry] = []  # every packet received
        self._mark = 0  # history index when the last command was sent
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None

    # --- for subclasses
    def _station(self) -> StationClient:
        raise NotImplementedError

    async def _within(self, awaitable: Coroutine[Any, Any, Any], within_s: float) -> Any:
        """Await within a deadline; TimeoutError after it."""
        return await asyncio.wait_for(awaitable, within_s)

    async def _command_async(
        self, name: str, args: dict[str, Any] | None, within_s: float, confirm: bool
    ) -> CommandResult:
        self._mark = len(self.history)
        sent = self._station().command(name, args, timeout=None, confirm=confirm)
        return await self._within(sent, within_s)

    def _attach(self, listeners: list[Callable[[DecodedTelemetry], None]]) -> None:
        """Record every packet given to these listeners (call in the loop)."""
        self._loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()
        listeners.append(self._record)

    def _record(self, tm: DecodedTelemetry) -> None:
        self.history.append(tm)
        assert self._arrived is not None
        self._arrived.set()

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None, "not started"
        future: Future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(WALL_LIMIT_S)

    # --- the steps
    def send_command(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        confirm: bool = False,
        within_s: float = 30,
    ) -> CommandResult:
        """Send a command and return its verification; ProcedureError unless it completes. A
        hazardous command goes up only with ``confirm=True``."""
        result = self._command(name, args, within_s, confirm)
        if not result.ok:
            raise ProcedureError(result.describe())
        return result

    def assert_command_rejected(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        failure: str | None = None,
        confirm: bool = False,
        within_s: float = 30,
    ) -> CommandResult:
        """Send a command that must fail (with ``failure``, a failure code name, if given)."""
        result = self._command(name, args, within_s, confirm)
        report = result.failure
        if report is None:
            raise ProcedureError(f"{name} was not rejected: {result.describe()}")
        if failure is not None and FailureCode(report.values["code"]).name != failure:
            raise ProcedureError(result.describe())
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
        it (a function), received since the last command (or from now), within ``within_s``;
        ProcedureError otherwise."""
        start = self._mark if since_command else len(self.history)
        try:
            return self._call(self._within(self._search(name, where, start), within_s))
        except TimeoutError:
            raise ProcedureError(
                f"no {name} matching {where} within {within_s:g} {self.time_unit}"
            ) from None

    def await_event(
        self, name: str, where: Match = None, *, within_s: float = 30, since_command: bool = True
    ) -> DecodedTelemetry:
        """As await_telemetry, for an event by its name."""
        return self.await_telemetry(name, where, within_s=within_s, since_command=since_command)

    def upload(self, path: str | Path, name: str) -> int:
        """Have the ground station send a file to the payload's file store by CFDP; the
        transaction's sequence number (await FILE_RECEIVED for its arrival)."""
        self._mark = len(self.history)
        return self._call(self._station().upload(str(Path(path).resolve()), name))

    # --- in the loop
    def _command(
        self, name: str, args: dict[str, Any] | None, within_s: float, confirm: bool
    ) -> CommandResult:
        try:
            return self._call(self._command_async(name, args, within_s, confirm))
        except TimeoutError:
            raise ProcedureError(
                f"{name}: no verification within {within_s:g} {self.time_unit}"
            ) from None

    async def _search(self, name: str, where: Match, start: int) -> DecodedTelemetry:
        assert self._arrived is not None
        index = start
        while True:
            while index < len(self.history):
                if matches(self.history[index], name, where):
                    return self.history[index]
                index += 1
            self._arrived.clear()
            await self._arrived.wait()


class StationProcedure(Procedure):
    """A procedure against a running ground station; deadlines in wall-clock seconds.

    ``with StationProcedure("127.0.0.1:5560") as p: p.send_command("PING")``, with the station
    token find_token finds (or the one given); about ``spacecraft`` (a name or an id) where the
    station serves a fleet.
    """

    def __init__(
        self,
        address: str,
        token: str | None = None,
        token_file: Path | None = None,
        tls: ssl.SSLContext | None = None,
        spacecraft: str | int | None = None,
    ) -> None:
        super().__init__()
        self.address = address
        self.spacecraft = spacecraft
        self._credentials = (token, token_file, tls)
        self._client: StationClient | None = None
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="procedure", daemon=True)

    def __enter__(self) -> StationProcedure:
        self._thread.start()
        self._started.wait(WALL_LIMIT_S)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(WALL_LIMIT_S)

    def _station(self) -> StationClient:
        assert self._client is not None
        return self._client

    def _main(self) -> None:
        try:
            asyncio.run(self._session())
        except BaseException as exc:  # given to __enter__ (StationUnreachable and the like)
            self._error = exc
        finally:
            self._started.set()

    async def _session(self) -> None:
        token, token_file, tls = self._credentials
        self._client = await StationClient.connect(
            self.address, token, token_file, tls, spacecraft=self.spacecraft
        )
        try:
            await self._client.greeting(HELLO_S)  # a port that is not a station's says so
        except StationUnreachable:
            await self._client.close()
            raise
        self._stop = asyncio.Event()
        self._attach(self._client.listeners)
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await self._client.close()
