"""The ground station's client API: send commands by name, await their verification and telemetry.

Used by the command line, the procedure API, the HIL bench and the console, so that every
operator tool commands the payload the same way. A connection authenticates first, with a station
token (ground/accounts/credentials.py: where a client finds its own), over TLS when given a
context.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from flight.dictionary import SOURCE_GROUND, FailureCode
from flight.protocol.fields import FieldError
from flight.protocol.messages import DecodedTelemetry, decode_telemetry
from flight.protocol.packets import PacketError, parse_packet
from ground.accounts.credentials import find_token, parse_token, proof
from ground.messages import ANSWER_MAX, concerns, encode_message, read_messages

VERIFICATION_SERVICE = 1
_FINAL_REPORTS = {"ACCEPTANCE_FAILURE", "START_FAILURE", "COMPLETION_SUCCESS", "COMPLETION_FAILURE"}


def split_address(address: str) -> tuple[str, int]:
    """HOST:PORT as host and port (an IPv6 host in brackets, which go); StationUnreachable
    saying what is wrong with it."""
    host, sep, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise StationUnreachable(
            f"{address!r} is not a station address: HOST:PORT, e.g. 127.0.0.1:5560 (a bench's "
            "station port is in OUT/station.port)"
        )
    return host, int(port)


def is_ground_report(tm: DecodedTelemetry) -> bool:
    """Whether the packet is a PUS 1 verification report addressed to the ground. The bus's own
    telecommands (its ticks) share the payload's APID, so a report to the bus can carry the same
    request id as a ground command's: it is not about that command."""
    return tm.packet.service == VERIFICATION_SERVICE and tm.packet.dest_id == SOURCE_GROUND


def request_id_of(report: DecodedTelemetry) -> bytes:
    """The request id a PUS 1 verification report is about: the command's first four octets."""
    v = report.values
    return v["request_packet_id"].to_bytes(2, "big") + v["request_seq_ctrl"].to_bytes(2, "big")


class NoSuchSpacecraft(Exception):
    """The station serves no spacecraft of the name or id the client speaks for."""


class CommandRefused(Exception):
    """The station would not send the command (unknown name, bad argument, link down)."""


class StationUnreachable(Exception):
    """No connection to the station, or it went away."""


class AuthenticationRefused(StationUnreachable):
    """The station refused the credentials (wrong, revoked, or too many failures)."""


@dataclass
class CommandResult:
    """What became of a sent command: its PUS 1 verification reports."""

    name: str
    request_id: bytes
    reports: list[DecodedTelemetry] = field(default_factory=list)

    @property
    def stages(self) -> list[str]:
        """Names of the verification reports received, in order."""
        return [r.name for r in self.reports]

    @property
    def final(self) -> bool:
        """Its last verification report is in: completion, or a failure."""
        return any(r.name in _FINAL_REPORTS for r in self.reports)

    @property
    def ok(self) -> bool:
        """Completed without a failure report."""
        return "COMPLETION_SUCCESS" in self.stages and self.failure is None

    @property
    def failure(self) -> DecodedTelemetry | None:
        """The failure report, if any."""
        return next((r for r in self.reports if r.name.endswith("_FAILURE")), None)

    def describe(self) -> str:
        """One line for an operator."""
        failure = self.failure
        if failure is not None:
            stage = failure.name.removesuffix("_FAILURE").lower()
            return (
                f"{self.name} failed at {stage}: {FailureCode(failure.values['code']).name} "
                f"({failure.values['reason']})"
            )
        return f"{self.name}: {', '.join(s.removesuffix('_SUCCESS').lower() for s in self.stages)}"


class StationClient:
    """A connection to the ground station."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        address: str = "",
        token: str | None = None,
        spacecraft: str | int | None = None,
    ) -> None:
        self.address = address
        self.spacecraft = spacecraft  # the one it speaks for (name or id); None: the only one
        self.scid: int | None = None  # its id, once the station's welcome lists the fleet
        self.fleet: list[dict[str, Any]] = []  # the spacecraft the station serves
        self._token = parse_token(token) if token is not None else None
        self._reader = reader
        self._writer = writer
        self._ref = 0
        self._pending: dict[int, asyncio.Future] = {}
        self._reports: dict[bytes, list[DecodedTelemetry]] = {}
        self._report_arrived = asyncio.Condition()
        self._subscribers: list[asyncio.Queue] = []
        self.listeners: list[Callable[[DecodedTelemetry], None]] = []  # called for every packet
        # called with the station's other messages: hello, link, file
        self.station_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.lost = asyncio.Event()  # set when the connection to the station ends
        self.greeted = asyncio.Event()  # set when the station has taken the credentials
        self.link_up = False
        self.account: str | None = None  # as the station knows this connection
        self.authority: str | None = None  # the account that holds command authority
        self.cop1_state = ""  # each spacecraft's COP-1 state in words, as the station says
        self.refusal: str | None = None  # why the station refused the credentials
        self.last_ert: float | None = None  # when the station received the latest packet (UTC s)
        self.undecodable = 0
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        address: str,
        token: str | None = None,
        token_file: Path | None = None,
        tls: ssl.SSLContext | None = None,
        spacecraft: str | int | None = None,
    ) -> StationClient:
        """Connect to HOST:PORT (an IPv6 host in brackets: [::1]:5560) with a station token:
        ``token``, else the one find_token finds (``token_file`` first); over TLS when given a
        context; speaking for ``spacecraft`` (a name or an id; None: the station's only one, or
        the whole fleet's telemetry and no commands where it serves several). StationUnreachable,
        saying why in words, if the address is not one or nothing answers there; CredentialError
        when there is no token."""
        host, port = split_address(address)
        token = token if token is not None else find_token(token_file)
        try:
            reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        except socket.gaierror:
            raise StationUnreachable(
                f"cannot reach the station at {address}: unknown host {host!r}"
            ) from None
        except ConnectionRefusedError:
            raise StationUnreachable(
                f"cannot reach the station at {address}: nothing listens there (is the station "
                "running? a bench's station port is in OUT/station.port)"
            ) from None
        except ssl.SSLError as exc:
            raise StationUnreachable(
                f"cannot reach the station at {address}: TLS failed ({exc.reason})"
            ) from None
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise StationUnreachable(f"cannot reach the station at {address}: {reason}") from None
        return cls(reader, writer, address, token, spacecraft)

    async def greeting(self, timeout: float) -> None:
        """Wait for the station to take the credentials; AuthenticationRefused when it refuses
        them, StationUnreachable, saying so, when whatever answered at the address closes or
        stays silent (it is not a ground station); NoSuchSpacecraft when it serves none of the
        name or id this client speaks for."""
        await self._welcomed_or_lost(timeout)
        if self.refusal is not None:
            raise AuthenticationRefused(self._lost())
        if not self.greeted.is_set():
            raise StationUnreachable(
                f"{self.address} took the connection, but no ground station answered "
                f"(no hello within {timeout:g} s): is that the station's client port?"
            )
        if self.spacecraft is not None and self.scid is None:
            served = ", ".join(f"{c.get('name')} ({c.get('scid')})" for c in self.fleet)
            raise NoSuchSpacecraft(
                f"the station at {self.address} serves no spacecraft {self.spacecraft!r}: {served}"
            )

    async def _welcomed_or_lost(self, timeout: float | None) -> None:
        welcomed = asyncio.ensure_future(self.greeted.wait())
        lost = asyncio.ensure_future(self.lost.wait())
        await asyncio.wait({welcomed, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        welcomed.cancel()
        lost.cancel()

    async def close(self) -> None:
        """Disconnect."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    def subscribe(self) -> asyncio.Queue:
        """A queue that receives every decoded telemetry packet from now on."""
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    async def _request(self, message: dict[str, Any], accepted: str) -> dict[str, Any]:
        """Send a request to the station and await its answer; CommandRefused unless it is
        ``accepted``."""
        if not self.greeted.is_set():  # nothing goes before the credentials are taken
            await self._welcomed_or_lost(None)
        self._ref += 1
        future = asyncio.get_running_loop().create_future()
        if self.lost.is_set():
            raise CommandRefused(self._lost())
        self._pending[self._ref] = future
        if self.spacecraft is not None:
            message = message | {"spacecraft": self.spacecraft}
        self._writer.write(encode_message(message | {"ref": self._ref}))
        answer = await future
        if answer["op"] != accepted:
            raise CommandRefused(answer.get("message", "refused"))
        return answer

    async def send(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        confirm: bool = False,
        bypass: bool = False,
    ) -> bytes:
        """Have the station send a command (``confirm``: the operator confirms a hazardous one;
        ``bypass``: in an expedited frame, around COP-1); its request id. CommandRefused if it
        will not."""
        message = {"op": "command", "name": name, "args": args or {}, "confirm": confirm}
        if bypass:
            message["bypass"] = True
        return bytes((await self._request(message, "sent"))["request_id"])

    async def cop1(self, directive: str | None = None, **params: Any) -> list[dict[str, Any]]:
        """COP-1's state per spacecraft, after carrying out ``directive`` when one is given
        (unlock, initiate, terminate, resume). CommandRefused when the station refuses."""
        message = {"op": "cop1"} | ({"directive": directive} | params if directive else {})
        return list((await self._request(message, "cop1"))["spacecraft"])

    async def fleet_status(self) -> list[dict[str, Any]]:
        """Every spacecraft the station serves: its name, id, dictionary, CFDP entity, whether
        its link is up, its latest spacecraft time, the packets and commands so far, its files
        and transfers (docs/icd.md section 11)."""
        return (await self.fleet_status_and_broker())[0]

    async def fleet_status_and_broker(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The fleet view's spacecraft, and the fleet job broker's counts: its placement policy,
        its jobs by state and how many it placed again."""
        answer = await self._request({"op": "fleet"}, "fleet")
        return list(answer["spacecraft"]), dict(answer.get("broker") or {})

    async def fleet_submit(
        self,
        manifest: dict[str, Any],
        at: float | None = None,
        files: list[tuple[str, str]] = (),
    ) -> dict[str, Any]:
        """A job for the fleet job broker to place (docs/icd.md section 11), submitted at ``at``
        (mission time, where the caller keeps it: the bench's bus time), with ``files`` (each a
        path at the station and its name on board) to go up with it: the job as placed, its
        spacecraft and predictions; CommandRefused (one line) when no spacecraft can take it."""
        request = {"op": "fleet_submit", "manifest": manifest}
        if files:
            request["files"] = [[path, name] for path, name in files]
        answer = await self._request(request | ({"at": at} if at is not None else {}), "placed")
        return dict(answer["job"])

    async def fleet_jobs(self) -> list[dict[str, Any]]:
        """Every job the fleet job broker holds: where, in what state, its predictions."""
        return list((await self._request({"op": "fleet_jobs"}, "fleet_jobs"))["jobs"])

    async def authority_action(self, action: str) -> str | None:
        """Request, release or take command authority, or ``show`` who holds it; the holder
        after it. CommandRefused when the station refuses."""
        return (await self._request({"op": "authority", "action": action}, "authority"))["holder"]

    async def upload(self, path: str, dest: str) -> int:
        """Have the station send a file to the payload's file store; the CFDP transaction's
        sequence number. CommandRefused if it will not."""
        message = {"op": "upload", "path": path, "dest": dest}
        return int((await self._request(message, "queued"))["seq_num"])

    async def relay(
        self,
        files: list[tuple[str, str]] = (),
        commands: list[tuple[str, dict[str, Any], bool]] = (),
        via: str | int | None = None,
    ) -> dict[str, Any]:
        """Have the station send files (each a local path and its name on board) and commands
        (name, arguments, confirmed) to this client's spacecraft in one consignment, up to
        ``via`` (default: the spacecraft itself while in contact, else one of the fleet that
        is) and across the laser mesh (docs/constellation.md): the consignment's name, the
        spacecraft it went up to, its CFDP transaction there and its commands' request ids.
        CommandRefused (one line) if the station will not."""
        message = {
            "op": "relay",
            "files": [[path, name] for path, name in files],
            "commands": [{"name": n, "args": a, "confirm": c} for n, a, c in commands],
        }
        answer = await self._request(message | ({"via": via} if via is not None else {}), "queued")
        return {key: answer[key] for key in ("name", "via", "seq_num", "request_ids")}

    async def transfers(self) -> list[dict[str, Any]]:
        """The station's CFDP transactions in progress: direction, name, size, octets so far."""
        return list((await self._request({"op": "transfers"}, "transfers"))["transfers"])

    async def files(self) -> list[dict[str, Any]]:
        """The files the station received from the payload, with their checks (as
        ``python -m ground files --json`` lists them)."""
        return list((await self._request({"op": "files"}, "files"))["files"])

    async def command(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        timeout: float | None = 10.0,
        confirm: bool = False,
    ) -> CommandResult:
        """Send a command and wait for its final verification report (completion or failure)."""
        request_id = await self.send(name, args, confirm)

        def final() -> bool:
            return self.result(name, request_id).final

        async with self._report_arrived:
            await asyncio.wait_for(self._report_arrived.wait_for(final), timeout)
        return self.result(name, request_id)

    def result(self, name: str, request_id: bytes) -> CommandResult:
        """What became of a command sent before (``name``, its request id): the verification
        reports heard for it so far, however they came down (live, or played back)."""
        return CommandResult(name, request_id, list(self._reports.get(request_id, [])))

    async def job_list(
        self, timeout: float | None = 10.0
    ) -> tuple[CommandResult, list[dict[str, Any]]]:
        """Send REPORT_JOBS and gather every page of its JOB_LIST answer."""
        queue = self.subscribe()
        try:
            result = await self.command("REPORT_JOBS", timeout=timeout)
            jobs: list[dict[str, Any]] = []
            while result.ok:
                page = await self.await_telemetry(lambda t: t.name == "JOB_LIST", timeout, queue)
                jobs += page.values["jobs"]
                if page.values["page"] + 1 >= page.values["pages"]:
                    break
            return result, jobs
        finally:
            self._subscribers.remove(queue)

    async def await_telemetry(
        self,
        predicate: Callable[[DecodedTelemetry], bool],
        timeout: float | None = 10.0,
        queue: asyncio.Queue | None = None,
    ) -> DecodedTelemetry:
        """The first telemetry packet (from ``queue``, or from now on) that satisfies predicate."""
        own = queue is None
        queue = self.subscribe() if queue is None else queue

        async def first() -> DecodedTelemetry:
            while True:
                tm = await queue.get()
                if predicate(tm):
                    return tm

        try:
            return await asyncio.wait_for(first(), timeout)
        finally:
            if own:
                self._subscribers.remove(queue)

    async def _read(self) -> None:
        try:
            async for message in read_messages(self._reader, ANSWER_MAX):
                await self._dispatch(message)
        except OSError:
            pass
        self.lost.set()
        for future in self._pending.values():
            if not future.done():
                future.set_result({"op": "error", "message": self._lost()})

    def _lost(self) -> str:
        """Why nothing more can go through this connection, in words."""
        if self.refusal is not None:
            return f"the station at {self.address} refused the credentials: {self.refusal}"
        if not self.greeted.is_set():
            return (
                f"{self.address or 'the far end'} closed the connection without the station's "
                "hello: is a ground station listening there?"
            )
        return "connection to the station lost"

    async def _dispatch(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        answers = ("sent", "error", "queued", "files", "authority", "transfers", "cop1", "fleet",
                   "watching", "placed", "fleet_jobs")  # fmt: skip
        if op in answers and message.get("ref"):
            future = self._pending.pop(message.get("ref"), None)
            if future is not None and not future.done():
                future.set_result(message)
        elif not self._ours(message):
            return  # about another spacecraft of the station's fleet
        elif op == "tm":
            ert = message.get("ert")
            self.last_ert = float(ert) if isinstance(ert, (int, float)) else None
            await self._telemetry(message.get("raw", b""))
        elif op == "hello":
            self._authenticate(message.get("nonce"))
        elif op == "auth-failed":
            self.refusal = str(message.get("message", "refused"))
        else:
            if op in ("welcome", "link"):
                self.link_up = bool(message.get("link_up", message.get("up")))
            if op == "welcome":
                self.account = message.get("account")
                self._welcome_fleet(message.get("fleet"))
                if self.spacecraft is not None and self.scid is not None:  # only its broadcasts
                    self._writer.write(encode_message({"op": "watch", "spacecraft": self.scid}))
                self.greeted.set()
            if "authority" in message or op == "authority":
                self.authority = message.get("authority", message.get("holder"))
            if op in ("welcome", "cop1"):
                self.cop1_state = str(message.get("cop1", message.get("summary", "")))
            for listener in self.station_listeners:
                listener(message)

    def _welcome_fleet(self, fleet: Any) -> None:
        """The spacecraft the station serves, and the id of the one this client speaks for."""
        self.fleet = [c for c in fleet if isinstance(c, dict)] if isinstance(fleet, list) else []
        for craft in self.fleet:
            named = self.spacecraft is not None and str(self.spacecraft) in (
                craft.get("name"),
                str(craft.get("scid")),
            )
            if named or (self.spacecraft is None and len(self.fleet) == 1):
                self.scid = craft.get("scid")
                self.link_up = bool(craft.get("link_up"))

    def _ours(self, message: dict[str, Any]) -> bool:
        """Whether a message the station sent to every client concerns this client's spacecraft
        (every message does when it speaks for the whole fleet)."""
        return self.spacecraft is None or concerns(message, self.scid)

    def _authenticate(self, nonce: Any) -> None:
        """Answer the station's hello with the token's proof."""
        if self._token is None or not isinstance(nonce, bytes):
            return
        token_id, secret = self._token
        self._writer.write(
            encode_message(
                {"op": "auth", "token_id": token_id, "proof": proof(secret, nonce, token_id)}
            )
        )

    async def _telemetry(self, raw: bytes) -> None:
        try:
            tm = decode_telemetry(parse_packet(raw))
        except (PacketError, FieldError):
            self.undecodable += 1
            return
        if is_ground_report(tm):
            self._reports.setdefault(request_id_of(tm), []).append(tm)
            async with self._report_arrived:
                self._report_arrived.notify_all()
        for listener in self.listeners:
            listener(tm)
        for queue in self._subscribers:
            queue.put_nowait(tm)
