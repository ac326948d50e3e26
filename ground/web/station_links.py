"""The web server's connections to the ground station: one per account with a web session, each
authenticated with a station token the server issues to that account for as long as it has
sessions (label "web"; its secret lives only in this process), so the station checks and audits
every command under the account that sent it. A link reconnects whenever the station is lost and
tells the account's pages; it ends, and its token is revoked, with the account's last session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

from flight.protocol.messages import DecodedTelemetry
from ground.accounts.store import AccountStore
from ground.client import NoSuchSpacecraft, StationClient, StationUnreachable
from ground.web.packets import packet_json

log = logging.getLogger("ground.web")
RETRY_S = 1.0
GREETING_S = 10.0
Sink = Callable[[dict[str, Any]], None]  # a page's outbox


class AccountLink:
    """One account's connection to the station, kept up while it has sessions."""

    def __init__(
        self,
        address: str,
        account: str,
        accounts: AccountStore,
        tls: ssl.SSLContext | None,
        observe: Callable[[DecodedTelemetry], None],
        spacecraft: int | None = None,
    ) -> None:
        self.address = address
        self.spacecraft = spacecraft
        self.observe = observe  # every packet, for the alarm list
        self.account = account
        self.accounts = accounts
        self.tls = tls
        self.token, self.token_text = accounts.issue_token(account, label="web")
        self.client: StationClient | None = None
        self.sinks: set[Sink] = set()
        self.state: dict[str, Any] = {
            "station": False,
            "link_up": False,
            "authority": None,
            "cop1": "",
        }
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.accounts.revoke(self.token.token_id)

    def tell(self, message: dict[str, Any]) -> None:
        """To every page of this account."""
        for sink in list(self.sinks):
            sink(message)

    def _status(self, **changes: Any) -> None:
        self.state |= changes
        self.tell({"op": "status", **self.state})

    async def _run(self) -> None:
        while True:
            try:
                client = await StationClient.connect(
                    self.address, self.token_text, tls=self.tls, spacecraft=self.spacecraft
                )
                await client.greeting(GREETING_S)
            except (StationUnreachable, NoSuchSpacecraft) as exc:
                self._status(station=False, why=str(exc))
                await asyncio.sleep(RETRY_S)
                continue
            self.client = client
            client.listeners.append(self._telemetry)
            client.station_listeners.append(self._station_message)
            self._status(
                station=True,
                link_up=client.link_up,
                authority=client.authority,
                cop1=client.cop1_state,
                why="",
            )
            try:
                await client.lost.wait()
            finally:
                self.client = None
                await client.close()
            self._status(station=False, why="lost the station; reconnecting")
            await asyncio.sleep(RETRY_S)

    def _telemetry(self, tm: DecodedTelemetry) -> None:
        self.observe(tm)
        ert = self.client.last_ert if self.client is not None else None
        self.tell({"op": "tm", **packet_json(tm, ert if ert is not None else time.time())})

    def _station_message(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "link":
            self._status(link_up=bool(message.get("up")))
        elif op == "authority":
            self._status(authority=message.get("holder"))
        elif op == "cop1":
            self._status(cop1=str(message.get("summary", "")))
        elif op == "file":
            self.tell({k: v for k, v in message.items() if isinstance(v, (str, int, bool))})


class StationLinks:
    """The account links of the web server."""

    def __init__(
        self,
        address: str,
        accounts: AccountStore,
        tls: ssl.SSLContext | None,
        spacecraft: int | None = None,
    ) -> None:
        self.address = address
        self.spacecraft = spacecraft  # the one of the station's fleet it is for; None: the only
        self.accounts = accounts
        self.tls = tls
        self.links: dict[str, AccountLink] = {}
        self.observers: list[Callable[[DecodedTelemetry], None]] = []

    def _observe(self, tm: DecodedTelemetry) -> None:
        for observer in self.observers:
            observer(tm)

    def broadcast(self, message: dict[str, Any]) -> None:
        """To every page of every account."""
        for link in self.links.values():
            link.tell(message)

    def open(self, account: str) -> AccountLink:
        """The account's link, started if it had none."""
        link = self.links.get(account)
        if link is None:
            link = self.links[account] = AccountLink(
                self.address, account, self.accounts, self.tls, self._observe, self.spacecraft
            )
        return link

    async def close(self, account: str) -> None:
        link = self.links.pop(account, None)
        if link is not None:
            await link.close()

    async def close_all(self) -> None:
        for account in list(self.links):
            await self.close(account)
