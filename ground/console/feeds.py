"""Where the console's model gets its packets: a live station (kept connected, reconnecting when
it is lost, and the way commands go up) or an archived pass replayed at any speed."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path

from ground.archive import Archive
from ground.client import (
    AuthenticationRefused,
    NoSuchSpacecraft,
    CommandRefused,
    StationClient,
    StationUnreachable,
)
from ground.command_requests import Request, RequestError
from ground.console.model import Model
from ground.fleet_view import describe_placement

RETRY_S = 1.0
HELLO_S = 5.0  # a station that accepts but does not greet within this is not serving
Say = Callable[[str], None]  # one line for the operator


class StationFeed:
    """A connection to the station feeding the model; reconnects whenever it is lost."""

    say: Say = print  # the console puts its message line here

    def __init__(
        self,
        model: Model,
        address: str,
        token: str,
        tls: ssl.SSLContext | None = None,
        spacecraft: str | None = None,
    ) -> None:
        self.model = model
        self.address = address
        self.spacecraft = spacecraft  # of the station's fleet: its name or id; None: its only one
        self.token = token
        self.tls = tls
        self.client: StationClient | None = None

    async def run(self) -> None:
        """Connect, feed, and reconnect after a loss, until cancelled."""
        reported = False
        while True:
            try:
                client = await StationClient.connect(
                    self.address, self.token, tls=self.tls, spacecraft=self.spacecraft
                )
            except StationUnreachable as exc:
                if not reported:  # once per outage, not every retry
                    self.say(f"{exc}; retrying every {RETRY_S:g} s")
                    reported = True
                self.model.connection(f"no station at {self.address}")
                await asyncio.sleep(RETRY_S)
                continue
            try:  # a dying station's socket can still accept
                await client.greeting(HELLO_S)
            except AuthenticationRefused as exc:  # trying again would only be refused again
                await client.close()
                self.say(str(exc))
                self.model.connection(f"refused by {self.address}: {client.refusal}")
                return
            except NoSuchSpacecraft as exc:
                await client.close()
                self.say(str(exc))
                self.model.connection(f"no spacecraft {self.spacecraft} at {self.address}")
                return
            except StationUnreachable:
                await client.close()
                await asyncio.sleep(RETRY_S)
                continue
            reported = False
            self.client = client
            client.listeners.append(self.model.ingest)
            client.station_listeners.append(self.model.station_message)
            self.model.connection(f"connected to {self.address}")
            self.model.station_message(  # from its welcome
                {
                    "op": "welcome",
                    "account": client.account,
                    "link_up": client.link_up,
                    "authority": client.authority,
                    "cop1": client.cop1_state,
                }
            )
            self.say(f"connected to the station at {self.address}")
            try:
                await client.lost.wait()
            finally:
                self.client = None
                await client.close()
            self.say(f"lost the station at {self.address}; reconnecting")
            self.model.connection(f"reconnecting to {self.address}")
            await asyncio.sleep(RETRY_S)

    async def send(self, request: Request) -> None:
        """Send a checked request; RequestError (one line) if it cannot go."""
        client = self.client
        if client is None:
            raise RequestError("not connected to the station: nothing sent")
        if request.authority is not None:
            try:
                holder = await client.authority_action(request.authority)
            except CommandRefused as exc:
                raise RequestError(f"authority {request.authority}: {exc}") from None
            self.say(f"command authority: {holder or 'nobody'}")
            return
        if request.upload is not None:
            path, name = request.upload
            serial = self.model.command_sent("upload", {"file": str(path), "as": name})
            try:
                await client.upload(str(path.resolve()), name)
            except CommandRefused as exc:
                self.model.command_answered(serial, refusal=str(exc))
                raise RequestError(str(exc)) from None
            self.model.command_answered(serial)
            self.model.upload_queued(name, path.stat().st_size)
            return
        if request.fleet_manifest is not None:
            serial = self.model.command_sent(request.name, request.fleet_manifest)
            try:
                job = await client.fleet_submit(request.fleet_manifest)
            except CommandRefused as exc:
                self.model.command_answered(serial, refusal=str(exc))
                raise RequestError(str(exc)) from None
            self.model.command_answered(serial)
            self.say(describe_placement(job))
            return
        serial = self.model.command_sent(request.name, request.args)
        try:
            # a hazardous request reaches here only once the operator confirmed it
            request_id = await client.send(request.name, request.args, confirm=request.hazardous)
        except CommandRefused as exc:
            self.model.command_answered(serial, refusal=str(exc))
            raise RequestError(f"{request.name}: {exc}") from None
        self.model.command_answered(serial, request_id)


class ReplayFeed:
    """An archived pass played into the model at ``speed`` times its on-board pace; the model's
    clock is the replay's."""

    say: Say = print  # the console puts its message line here

    def __init__(
        self,
        model: Model,
        archive: str | Path,
        start: float | None,
        end: float | None,
        speed: float,
        spacecraft: int | None = None,
    ) -> None:
        self.model = model
        self.archive = archive
        self.spacecraft = spacecraft  # one spacecraft's packets of a fleet's archive
        self.start = start
        self.end = end
        self.speed = speed
        self.client = None
        self.now: float | None = None
        model.clock = lambda: self.now if self.now is not None else 0.0

    async def run(self) -> None:
        """Play the pass once, then stay (the screen keeps showing it)."""
        archive = Archive(self.archive, create=False)
        try:
            packets = archive.packets(self.start, self.end, spacecraft=self.spacecraft)
        finally:
            archive.close()
        self.model.connection(f"replay of {self.archive}")
        self.say(f"replaying {len(packets)} packets at {self.speed:g}x")
        loop = asyncio.get_running_loop()
        began = loop.time()
        first = next((p.time for p in packets if p.time is not None), None)
        for packet in packets:
            tm = packet.decoded()
            if tm is None:
                continue
            if first is not None:
                due = began + (tm.packet.time - first) / self.speed
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
            self.now = tm.packet.time
            self.model.ingest(tm)
        self.say("replay finished")
        await asyncio.Event().wait()

    async def send(self, request: Request) -> None:
        """A replay sends nothing."""
        raise RequestError("this is a replay: no commands go up")
