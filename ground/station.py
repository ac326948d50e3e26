"""The ground station: holds the space link to the spacecraft and serves operator clients.

It encodes telecommands from the flight dictionary (assigning the sequence counts, as a mission
control system does), sends them up the space link, and passes every telemetry packet that comes
down to every connected client, once (stored telemetry played back from files included). It
serves one spacecraft or a fleet of them (ground/fleet.py), each with its own keys, FOP-1 and
CFDP entity, which receives its payload's files (ground/spacecraft.py; ground/files.py checks
and lists them); every packet and command is archived under its spacecraft id
(ground/archive/: SQLite or PostgreSQL). Its fleet job broker (ground/broker.py) takes jobs for
the fleet as a whole and places each on one spacecraft.
The space link is TCP carrying USLP transfer frames (ground/space_link.py, docs/icd.md section
18): telemetry comes down in the spacecraft's virtual channels, telecommands go up through
COP-1; the station reconnects whenever it drops.

Clients authenticate before anything else (ground/gatekeeper.py). Each request is then checked
against its account's role (ground/accounts/privileges.py) and command authority
(ground/accounts/authority.py), and audited with the account, the peer and the outcome
(ground/audit.py), the verification reports of each command sent included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from flight import dictionary as d
from flight.protocol.fields import FieldError
from flight.protocol.messages import DecodedTelemetry, encode_command
from flight.protocol.packets import Telemetry
from flight.spacelink.fop import Cop1Refused
from flight.spacelink.profile import LinkProfile
from ground.accounts.authority import AuthorityRefused, CommandAuthority
from ground.accounts.privileges import command_refusal, cop1_refusal, upload_refusal
from ground.accounts.store import Account, AccountStore
from ground.archive import Archive
from ground.audit import HEAD_LOG_EVERY
from ground.broker import Broker, BrokerError, BrokerJob, ContactPlan, JobStore
from ground.cop1_directives import direct
from ground.fleet import FleetError, SpacecraftConfig, find, record
from ground.gatekeeper import Gatekeeper, Session
from ground.mesh import Mesh
from ground.messages import concerns, encode_message, read_messages
from ground.space_link import GroundLink
from ground.spacecraft import OutgoingConsignment, Spacecraft

log = logging.getLogger("ground.station")
RECONNECT_S = 0.5
LINK_READ = 1 << 16
CLIENT_BACKLOG = 16 << 20  # octets unread by a client before it is disconnected
ARCHIVE_FLUSH_S = 0.2
PRUNE_EVERY_S = 3600.0
REVOCATION_CHECK_S = 0.5  # how often the account store is looked at for revoked tokens
_SPACECRAFT_OPS = ("command", "upload", "relay", "files", "transfers")  # about one spacecraft
_FLEET_OPS = ("fleet", "fleet_submit", "fleet_jobs")  # about the fleet as a whole
_BROKER_OWN = ("CANCEL_JOB", "REPORT_JOB")  # the broker's own, about jobs it placed
_COMMAND_OCTETS = 512  # a signed telecommand in a consignment, as a carrier is chosen


@dataclass
class _Link:
    """One space link (a TCP connection to a radio) and the spacecraft its frames carry."""

    address: str  # HOST:PORT
    frames: GroundLink
    scids: list[int]
    writer: asyncio.StreamWriter | None = None


class Station:
    """One ground station: the space links of its fleet's spacecraft, and any number of
    clients. ``link`` (HOST:PORT) carries every spacecraft that names no link of its own."""

    def __init__(
        self,
        link: str,
        fleet: list[SpacecraftConfig],
        state_dir: Path = Path("ground-state"),
        echo_idle: bool = False,
        *,
        accounts: AccountStore,
        tls: ssl.SSLContext | None = None,
        archive: str | None = None,
        retain_s: float | None = None,
        placement: str = "broker",
        contacts: ContactPlan | None = None,
        mesh: Mesh | None = None,
    ) -> None:
        self.echo_idle = echo_idle  # the space link's loopback (flight/protocol/loopback.py)
        self.fleet = fleet
        self.client_errors = 0  # client requests that ran into a defect (logged)
        self.link_errors = 0  # space link reads that ran into a defect (logged)
        self.clients_dropped = 0  # clients disconnected for not reading
        self._cop1_said = ""
        self._clients: dict[asyncio.StreamWriter, Session] = {}
        self.tls = tls
        state_dir.mkdir(parents=True, exist_ok=True)
        self.archive = Archive(archive or state_dir / "archive.sqlite")
        self.retain_s = retain_s  # retention: packets and commands older are deleted
        self.archive_errors = 0
        self._archive_failing = False
        self.craft = {c.scid: Spacecraft(c, state_dir, self) for c in fleet}
        record(fleet, state_dir)
        carried: dict[str, list[int]] = {}  # link -> the spacecraft it carries
        for config in fleet:
            carried.setdefault(config.link or link, []).append(config.scid)
        self.links = {
            address: _Link(
                address,
                GroundLink(
                    [LinkProfile(scid) for scid in scids],
                    self._sender(address),
                    self._clock(scids),
                    self._delivery,
                ),
                scids,
            )
            for address, scids in carried.items()
        }
        self._link_of = {scid: entry for entry in self.links.values() for scid in entry.scids}
        self.accounts = accounts
        self.gate = Gatekeeper(accounts, self.audit)
        self.authority = CommandAuthority()
        self.broker = Broker(
            {c.name: self.craft[c.scid].health for c in fleet},
            JobStore(state_dir / "broker.sqlite"),
            self,
            placement,
            contacts,
            mesh,
        )
        self._accounts_version = accounts.version()

    def _sender(self, address: str) -> Callable[[bytes], None]:
        def send(data: bytes) -> None:
            writer = self.links[address].writer
            if writer is not None:
                writer.write(data)

        return send

    def _clock(self, scids: list[int]) -> Callable[[], float]:
        """A link's COP-1 clock: the latest spacecraft time of the spacecraft it carries."""
        return lambda: max(self.craft[scid].spacecraft_time for scid in scids)

    def spacecraft(self, wanted: str | int | None) -> Spacecraft:
        """The spacecraft a name or an id names (the only one if None); FleetError otherwise."""
        return self.craft[find(self.fleet, wanted).scid]

    def audit(
        self, account: str | None, peer: str | None, action: str, outcome: str, **detail: Any
    ) -> None:
        """One row of the audit trail (committed with the archive's next flush)."""
        head = self.archive.audit.append(time.time(), account, peer, action, outcome, **detail)
        if self.archive.audit.seq % HEAD_LOG_EVERY == 0:
            log.info("audit trail: row %d, head %s", self.archive.audit.seq, head.hex())

    def link_up(self, scid: int | None = None) -> bool:
        """Whether the space link of this spacecraft is connected (of any, if None)."""
        if scid is None:
            return any(entry.writer is not None for entry in self.links.values())
        return self._link_of[scid].writer is not None

    def expedited(self, scid: int, packet: bytes) -> None:
        """A packet up to a spacecraft in an expedited frame (file PDUs, the loopback's echo)."""
        self._link_of[scid].frames.expedited(scid, packet)

    async def serve(self, host: str, port: int, port_file: Path | None = None) -> None:
        """Serve clients on host:port and keep the space link up, until cancelled."""
        server = await asyncio.start_server(self._client, host, port, ssl=self.tls)
        bound = server.sockets[0].getsockname()[1]
        log.info(
            "listening on %s:%d; space links: %s",
            host,
            bound,
            "; ".join(f"{a} ({_names(self.fleet, e.scids)})" for a, e in self.links.items()),
        )
        if port_file is not None:
            tmp = port_file.with_suffix(".tmp")
            tmp.write_text(f"{bound}\n")
            os.replace(tmp, port_file)
        if not self.accounts.accounts():
            log.warning(
                "the account store %s has no accounts: no client can connect "
                "(python -m ground users add)",
                self.accounts.path,
            )
        flushing = asyncio.ensure_future(self._flush_archive())
        revoking = asyncio.ensure_future(self._watch_revocations())
        try:
            async with server:
                await asyncio.gather(*(self._hold_link(entry) for entry in self.links.values()))
        finally:
            flushing.cancel()
            revoking.cancel()
            self.archiving(self.archive.flush)

    async def _flush_archive(self) -> None:
        """Commit what the archive holds a few times a second: a crash loses at most that; and
        delete what is older than the retention, once an hour."""
        pruned = 0.0
        while True:
            await asyncio.sleep(ARCHIVE_FLUSH_S)
            self.archiving(self.archive.flush)
            now = time.time()
            if self.retain_s is not None and now - pruned >= PRUNE_EVERY_S:
                pruned = now
                self.archiving(self._prune, now - self.retain_s)

    def _prune(self, before: float) -> None:
        packets, commands = self.archive.prune(before)
        if packets or commands:
            log.info("archive retention: %d packets and %d commands deleted", packets, commands)

    async def _watch_revocations(self) -> None:
        """Drop the connections whose token was revoked, or account removed, since last time."""
        while True:
            await asyncio.sleep(REVOCATION_CHECK_S)
            version = self.accounts.version()
            if version == self._accounts_version:
                continue
            self._accounts_version = version
            for writer, session in list(self._clients.items()):
                if self.gate.current(session) is None:
                    self._drop(writer, session, "credential revoked")
            holder = self.authority.holder
            if holder is not None and self.accounts.account(holder) is None:
                self.authority.release(holder)
                self._authority_changed(holder, None, "released: the account was removed")

    def _drop(self, writer: asyncio.StreamWriter, session: Session, why: str) -> None:
        """Close an authenticated connection, saying why."""
        self.audit(session.account.name, session.peer, "disconnect", why)
        writer.write(encode_message({"op": "error", "ref": None, "message": why}))
        self._clients.pop(writer, None)
        writer.close()

    def archiving(self, step: Callable[..., None], *args: Any) -> None:
        """One archive step; a failure to commit (a full disk) is logged once and counted, and
        what was not committed stays held until a later commit succeeds."""
        try:
            step(*args)
        except self.archive.errors as exc:
            self.archive_errors += 1
            if not self._archive_failing:
                log.error("archive: cannot commit (%s); holding packets in memory", exc)
            self._archive_failing = True
            return
        if self._archive_failing and not self.archive.pending:
            log.warning("archive: committing again after %d failures", self.archive_errors)
            self._archive_failing = False

    async def _hold_link(self, entry: _Link) -> None:
        names = _names(self.fleet, entry.scids)
        while True:
            host, _, port = entry.address.rpartition(":")
            try:
                reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
            except OSError:
                await asyncio.sleep(RECONNECT_S)
                continue
            entry.writer = writer
            self.broadcast({"op": "link", "up": True, "spacecraft": entry.scids})
            log.info("space link %s up (%s)", entry.address, names)
            try:
                while data := await reader.read(LINK_READ):
                    self._frames(entry, data)
            except OSError:
                pass
            finally:  # lost, or the station is stopping
                entry.writer = None
                writer.close()
                entry.frames.ended()
            self.broadcast({"op": "link", "up": False, "spacecraft": entry.scids})
            log.warning("space link %s down (%s)", entry.address, names)
            await asyncio.sleep(RECONNECT_S)

    def _frames(self, entry: _Link, data: bytes) -> None:
        """Octets from a space link: their frames' packets, the loopback's echo, COP-1. A
        defect they run into is logged and counted, and the link is served on."""
        try:
            self._take_frames(entry, data)
        except Exception:
            self.link_errors += 1
            log.exception("the space link's octets ran into a defect")

    def _take_frames(self, entry: _Link, data: bytes) -> None:
        packets, loopbacks = entry.frames.received(data)
        for scid, raw in packets:
            self.craft[scid].downlinked(raw)
        for scid, packet in loopbacks:  # everything that came before it is answered
            if self.echo_idle:
                entry.frames.expedited(scid, packet)
        entry.frames.tick()
        self._cop1_news()

    def _cop1_news(self) -> None:
        """Every client told when COP-1's state changes (an alert, the service initiated)."""
        summary = self.cop1_summary()
        if summary != self._cop1_said:
            self._cop1_said = summary
            self.broadcast({"op": "cop1", "summary": summary})

    def cop1_summary(self) -> str:
        """Each spacecraft's COP-1 state in words, in one line."""
        return "; ".join(entry.frames.summary() for entry in self.links.values())

    def _delivery(self, tag: Any, delivered: bool, why: str) -> None:
        """COP-1's word on a telecommand: acknowledged by the spacecraft, or given up."""
        account, request_id, name, scid = tag
        if not delivered:
            log.warning("%s (%s) not delivered: %s", name, request_id.hex(), why)
            self.audit(
                account,
                None,
                "command",
                f"not delivered: {why}",
                request_id=request_id,
                spacecraft=scid,
            )
        self.broadcast({"op": "delivery", "request_id": request_id, "delivered": delivered,
                        "why": why, "spacecraft": scid})  # fmt: skip

    def broadcast(self, message: dict[str, Any]) -> None:
        """Send a message to every client, but not one about another spacecraft to a client
        that watches one (COP-1's summary, about them all, goes to every client)."""
        data = encode_message(message)
        for client, session in list(self._clients.items()):
            if client.is_closing():
                self._clients.pop(client, None)
            elif session.watching is not None and not concerns(message, session.watching):
                continue
            elif client.transport.get_write_buffer_size() > CLIENT_BACKLOG:
                log.warning("a client that does not read its telemetry was disconnected")
                self.clients_dropped += 1
                self._clients.pop(client, None)
                client.transport.abort()
            else:
                client.write(data)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer, host = _peer(writer)
        messages = read_messages(reader)
        try:
            session = await self.gate.admit(messages, writer.write, peer, host)
            if session is None:
                return
            self._clients[writer] = session
            writer.write(encode_message(self._welcome(session.account)))
            async for message in messages:
                answer = self._answer(session, writer, message)
                if answer is not None:
                    writer.write(encode_message(answer))
        except OSError:
            pass
        finally:
            self._clients.pop(writer, None)
            writer.close()

    def _welcome(self, account: Account) -> dict[str, Any]:
        return {
            "op": "welcome",
            "account": account.name,
            "role": account.role.label,
            "link_up": self.link_up(),
            "authority": self.authority.holder,
            "cop1": self.cop1_summary(),
            "fleet": [c.describe() | {"link_up": self.link_up(c.scid)} for c in self.fleet],
        }

    def _answer(
        self, session: Session, writer: asyncio.StreamWriter, message: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A client's request answered; a defect it runs into is answered as an error, logged
        and counted, and the station serves on."""
        ref = _plain(message.get("ref"))
        try:
            op = message.get("op")
            if op not in (*_SPACECRAFT_OPS, *_FLEET_OPS, "authority", "cop1", "watch"):
                return None
            account = self.gate.current(session)
            if account is None:
                self._drop(writer, session, "credential revoked")
                return None
            if op == "authority":
                return self._authority(session, message)
            if op == "cop1":
                return self._cop1(session, message)
            if op in _FLEET_OPS:
                return self._fleet(session, op, message)
            try:
                craft = self.spacecraft(_plain(message.get("spacecraft")))
            except FleetError as exc:
                if op in ("command", "upload", "relay"):
                    self.audit(account.name, session.peer, op, f"refused: {exc}")
                if op == "watch" and not ref:  # no one waits for its answer
                    return None
                return {"op": "error", "ref": ref, "message": str(exc)}
            if op == "watch":
                session.watching = craft.scid
                return {"op": "watching", "ref": ref, "spacecraft": craft.scid} if ref else None
            if op == "command":
                return self.uplink_command(session, craft, message)
            if op == "upload":
                return self.upload(session, craft, message)
            if op == "relay":
                return self.relay(session, craft, message)
            if op == "transfers":
                return {"op": "transfers", "ref": ref, "transfers": craft.transfers()}
            rows = [dataclasses.asdict(r) for r in craft.files.rows()]
            return {"op": "files", "ref": ref, "files": rows}
        except Exception as exc:
            self.client_errors += 1
            log.exception("a client's request raised")
            return {"op": "error", "ref": ref, "message": f"{exc!r}"}

    def _authority(self, session: Session, message: dict[str, Any]) -> dict[str, Any]:
        """Request, release or take command authority, or ask who holds it."""
        ref, action, account = _plain(message.get("ref")), message.get("action"), session.account
        try:
            if action == "request":
                if self.authority.request(account.name, account.role):
                    self._authority_changed(account.name, session.peer, "granted")
            elif action == "release":
                if self.authority.release(account.name):
                    self._authority_changed(account.name, session.peer, "released")
            elif action == "take":
                previous = self.authority.take(account.name, account.role)
                if previous != account.name:
                    log.warning(
                        "command authority taken over by %s from %s", account.name, previous
                    )
                    self._authority_changed(
                        account.name, session.peer, "taken over", previous=previous
                    )
            elif action != "show":
                return {"op": "error", "ref": ref, "message": f"no authority action {action!r}"}
        except AuthorityRefused as exc:
            self.audit(account.name, session.peer, "authority", f"refused: {exc}", asked=action)
            return {"op": "error", "ref": ref, "message": str(exc)}
        return {"op": "authority", "ref": ref, "holder": self.authority.holder}

    def _cop1(self, session: Session, message: dict[str, Any]) -> dict[str, Any]:
        """COP-1's state and its channels' counts (of one spacecraft, if named); or an
        operator's directive to one spacecraft's FOP-1, then those."""
        ref, directive = _plain(message.get("ref")), message.get("directive")
        wanted = _plain(message.get("spacecraft"))
        if directive is not None:
            account = session.account
            refusal = cop1_refusal(account.role) or self._may_command(session)
            try:
                if refusal is not None:
                    raise Cop1Refused(refusal)
                scid = self.spacecraft(wanted).scid
                direct(self._link_of[scid].frames.fop(scid), str(directive)[:32], message)
            except (Cop1Refused, FleetError) as exc:
                self.audit(account.name, session.peer, "cop1", f"refused: {exc}", asked=directive)
                return {"op": "error", "ref": ref, "message": str(exc)}
            log.warning("COP-1: %s to %s by %s", directive, self.craft[scid].name, account.name)
            self.audit(
                account.name, session.peer, "cop1", "done", directive=directive, spacecraft=scid
            )
            self._cop1_news()
        try:
            only = None if wanted is None else self.spacecraft(wanted).scid
        except FleetError as exc:
            return {"op": "error", "ref": ref, "message": str(exc)}
        status = [
            row | ({"name": self.craft[row["scid"]].name} if row["scid"] in self.craft else {})
            for entry in self.links.values()
            for row in entry.frames.status()
            if only is None or row["scid"] == only
        ]
        return {"op": "cop1", "ref": ref, "spacecraft": status}

    def _authority_changed(
        self, account: str, peer: str | None, outcome: str, **detail: Any
    ) -> None:
        self.audit(account, peer, "authority", outcome, holder=self.authority.holder, **detail)
        self.broadcast({"op": "authority", "holder": self.authority.holder})

    def _may_command(self, session: Session) -> str | None:
        """Why this session may not send anything up now (None if it may): it must hold command
        authority, which an operator's first command takes while nobody holds it."""
        account = session.account
        try:
            if self.authority.request(account.name, account.role):
                self._authority_changed(account.name, session.peer, "granted")
        except AuthorityRefused as exc:
            return str(exc)
        return None

    def upload(
        self, session: Session, craft: Spacecraft, message: dict[str, Any]
    ) -> dict[str, Any]:
        """Queue a file for a payload's file store (CFDP class 2); the answer for the client."""
        answer = self._upload(session, craft, message)
        outcome = "queued" if answer["op"] == "queued" else f"refused: {answer['message']}"
        self.audit(
            session.account.name,
            session.peer,
            "upload",
            outcome,
            path=message.get("path"),
            dest=message.get("dest"),
            seq_num=answer.get("seq_num"),
            spacecraft=craft.scid,
        )
        return answer

    def _upload(
        self, session: Session, craft: Spacecraft, message: dict[str, Any]
    ) -> dict[str, Any]:
        ref, path, dest = _plain(message.get("ref")), message.get("path"), message.get("dest")
        refusal = upload_refusal(session.account.role) or self._may_command(session)
        if refusal is not None:
            return {"op": "error", "ref": ref, "message": refusal}
        refusal = _file_refusal(path, dest)
        if refusal is not None:
            return {"op": "error", "ref": ref, "message": refusal}
        return {"op": "queued", "ref": ref, "seq_num": craft.put(Path(path).resolve(), dest)}

    def relay(self, session: Session, craft: Spacecraft, message: dict[str, Any]) -> dict[str, Any]:
        """Send files and commands to a spacecraft by way of one in contact and the laser mesh,
        in one consignment (docs/constellation.md); the answer for the client."""
        answer = self._relay(session, craft, message)
        if answer["op"] != "queued":
            self.audit(session.account.name, session.peer, "relay",
                       f"refused: {answer['message']}", spacecraft=craft.scid)  # fmt: skip
        return answer

    def _consign(
        self,
        account: str,
        peer: str | None,
        craft: Spacecraft,
        via: Spacecraft,
        files: list[tuple[str, Path]],
        commands: list[tuple[str, dict[str, Any]]],
    ) -> tuple[int, OutgoingConsignment]:
        """Sign files and commands into one consignment for ``craft``, send it up to ``via``,
        and archive and audit its commands as sent; the up transaction's number and the
        consignment. ValueError, KeyError or FieldError if one cannot be signed."""
        consignment = craft.consignment(files, commands, via.spacecraft_time)
        seq = via.put(consignment.path, consignment.name)
        ids = [packet[:4] for packet in consignment.packets]
        for (name, args), request_id in zip(commands, ids, strict=True):
            craft.sent(request_id, account)
            self.archive.command(craft.scid, time.time(), name, args, request_id, account)
        self.audit(
            account, peer, "relay", "queued", spacecraft=craft.scid, via=via.name,
            name=consignment.name, seq_num=seq, request_ids=ids,
        )  # fmt: skip
        return seq, consignment

    def _relay(
        self, session: Session, craft: Spacecraft, message: dict[str, Any]
    ) -> dict[str, Any]:
        ref, role = _plain(message.get("ref")), session.account.role
        files, commands = message.get("files") or [], message.get("commands") or []
        if not isinstance(files, list) or not isinstance(commands, list) or not files + commands:
            return {"op": "error", "ref": ref, "message": "a consignment needs files or commands"}
        refusal = upload_refusal(role) if files else None
        for item in files:
            ok = isinstance(item, list) and len(item) == 2
            refusal = refusal or (_file_refusal(*item) if ok else "each file is [path, name]")
        checked = []
        for item in commands:
            name = item.get("name") if isinstance(item, dict) else None
            args = item.get("args") or {} if isinstance(item, dict) else None
            known = d.COMMANDS_BY_NAME.get(name) if isinstance(name, str) else None
            if known is None or known.source != d.SOURCE_GROUND or not isinstance(args, dict):
                refusal = refusal or f"{name!r} is not a ground command with an args map"
                continue
            refusal = refusal or command_refusal(role, known, item.get("confirm") is True)
            checked.append((name, craft.signed_job(name, args)))
        refusal = refusal or self._may_command(session)
        try:
            if refusal is not None:
                raise ValueError(refusal)
            for name, args in checked:
                encode_command(name, args)  # validate before anything is signed
            placed = [(n, Path(p).resolve()) for p, n in files]
            octets = sum(path.stat().st_size for _, path in placed) + _COMMAND_OCTETS * len(checked)
            via = self._carrier(craft, message.get("via"), octets)
            seq, consignment = self._consign(
                session.account.name, session.peer, craft, via, placed, checked
            )
        except (KeyError, FieldError, ValueError, FleetError) as exc:
            return {"op": "error", "ref": ref, "message": str(exc.args[0])}
        ids = [packet[:4] for packet in consignment.packets]
        return {"op": "queued", "ref": ref, "seq_num": seq, "via": via.name,
                "name": consignment.name, "request_ids": ids}  # fmt: skip

    def _carrier(self, craft: Spacecraft, via: Any, octets: int) -> Spacecraft:
        """The spacecraft a consignment of ``octets`` goes up to: the one named (its link must
        be up); else, with the mesh's plan, the one in contact from which it reaches the
        destination soonest (the destination itself while its link is up); else the
        destination while its link is up, or the first of the fleet in contact. ValueError
        when none is."""
        if via is not None:
            carrier = self.spacecraft(_plain(via))
            if not carrier.link_up:
                raise ValueError(f"{carrier.name}'s space link is down: it cannot carry it now")
            return carrier
        up = {c.name: c for c in self.craft.values() if c.link_up}
        if not up:
            raise ValueError("no spacecraft of the fleet is in contact: nothing can carry it now")
        mesh = self.broker.mesh
        way = mesh.carrier(craft.name, self.broker.now, octets, up) if mesh else None
        if way is not None:
            return up[way[0]]
        return craft if craft.name in up else up[min(up)]

    def uplink_command(
        self, session: Session, craft: Spacecraft, message: dict[str, Any]
    ) -> dict[str, Any]:
        """Encode and send one command to a spacecraft; the answer for the client that asked."""
        answer = self._uplink_command(session, craft, message)
        name, args = message.get("name"), message.get("args")
        if answer["op"] == "sent":
            craft.sent(answer["request_id"], session.account.name)
            self.audit(
                session.account.name,
                session.peer,
                "command",
                "sent",
                name=name,
                args=args,
                request_id=answer["request_id"],
                spacecraft=craft.scid,
            )
        else:
            self.audit(
                session.account.name,
                session.peer,
                "command",
                f"refused: {answer['message']}",
                name=str(name)[:64],
                args=args if isinstance(args, dict) else repr(args)[:256],
                spacecraft=craft.scid,
            )
        return answer

    def _uplink_command(
        self, session: Session, craft: Spacecraft, message: dict[str, Any]
    ) -> dict[str, Any]:
        ref = _plain(message.get("ref"))
        name, args = message.get("name"), message.get("args") or {}
        if not isinstance(name, str) or not isinstance(args, dict):
            return {"op": "error", "ref": ref, "message": "a command needs a name and an args map"}
        known = d.COMMANDS_BY_NAME.get(name)
        if known is None:
            return {"op": "error", "ref": ref, "message": f"unknown command {name!r}"}
        if known.source != d.SOURCE_GROUND:
            return {"op": "error", "ref": ref, "message": f"{name} is not a ground command"}
        confirmed = message.get("confirm") is True
        refusal = command_refusal(session.account.role, known, confirmed)
        if refusal is None:
            refusal = self._may_command(session)
        if refusal is not None:
            return {"op": "error", "ref": ref, "message": refusal}
        try:
            request_id = self._transmit(
                craft, name, args, session.account.name, message.get("bypass") is True
            )
        except (KeyError, FieldError, ValueError, Cop1Refused) as exc:
            return {"op": "error", "ref": ref, "message": str(exc.args[0])}
        return {"op": "sent", "ref": ref, "request_id": request_id}

    def _transmit(
        self, craft: Spacecraft, name: str, args: dict[str, Any], account: str, bypass: bool
    ) -> bytes:
        """Sign, encode, send and archive one command; its request id. KeyError, FieldError,
        ValueError or Cop1Refused say why it was not sent."""
        frames = self._link_of[craft.scid].frames
        args = craft.signed_job(name, args)
        encode_command(name, args)  # validate before anything else: a typo is a typo
        if not craft.link_up:
            raise ValueError("space link down: command not sent")
        fop = frames.fop(craft.scid)
        if not bypass and not fop.accepting:
            raise Cop1Refused(
                f"COP-1 is {fop.describe()}: command not sent (python -m ground cop1)"
            )
        packet = craft.commands.packet(name, args)  # numbered only when it goes up
        frames.command(craft.scid, packet, (account, packet[:4], name, craft.scid), bypass=bypass)
        self.archive.command(craft.scid, time.time(), name, args, packet[:4], account)
        return packet[:4]

    # --- the fleet job broker
    def _fleet(self, session: Session, op: str, message: dict[str, Any]) -> dict[str, Any]:
        """The fleet view, the broker's jobs, or a job submitted to the fleet."""
        ref = _plain(message.get("ref"))
        if op == "fleet":
            return {"op": "fleet", "ref": ref, "broker": self.broker.summary(),
                    "spacecraft": [c.describe() for c in self.craft.values()]}  # fmt: skip
        if op == "fleet_jobs":
            return {"op": "fleet_jobs", "ref": ref, "jobs": self.broker.listing()}
        account = session.account
        files = message.get("files") or []
        refusal = command_refusal(account.role, d.COMMANDS_BY_NAME["SUBMIT_JOB"], False)
        if not isinstance(files, list):
            files, refusal = [], refusal or "files: a list of [path, name]"
        refusal = refusal or (upload_refusal(account.role) if files else None)
        for item in files:
            ok = isinstance(item, list) and len(item) == 2
            refusal = refusal or (_file_refusal(*item) if ok else "each file is [path, name]")
        refusal = refusal or self._may_command(session)
        try:
            if refusal is not None:
                raise BrokerError(refusal)
            inputs = [(str(Path(path).resolve()), name) for path, name in files]
            job = self.broker.submit(message.get("manifest"), account.name, _time(message), inputs)
        except BrokerError as exc:
            self.audit(account.name, session.peer, "fleet_submit", f"refused: {exc}")
            return {"op": "error", "ref": ref, "message": str(exc)}
        self.audit(
            account.name, session.peer, "fleet_submit", "placed", job=job.job_id,
            spacecraft=job.spacecraft,
        )  # fmt: skip
        return {"op": "placed", "ref": ref, "job": job.describe()}

    def broker_send(self, spacecraft: str, name: str, args: dict[str, Any], account: str) -> bytes:
        """A command the broker sends for the account that submitted the job (which must hold
        command authority, or nobody does), or one of its own about a job it placed (asking
        after it, cancelling a copy it moved); BrokerError why not."""
        craft = self.spacecraft(spacecraft)
        holder = self.authority.holder
        try:
            if name not in _BROKER_OWN and holder not in (None, account):
                raise ValueError(f"command authority is held by {holder}, not {account}")
            request_id = self._transmit(craft, name, args, account, bypass=False)
        except (KeyError, FieldError, ValueError, Cop1Refused) as exc:
            raise BrokerError(str(exc.args[0])) from None
        craft.sent(request_id, account)
        self.audit(
            account, "broker", "command", "sent", name=name, args=args, request_id=request_id,
            spacecraft=craft.scid,
        )  # fmt: skip
        return request_id

    def broker_relay(self, job: BrokerJob, carrier: str) -> bytes:
        """A job's inputs and SUBMIT_JOB the broker sends in one consignment up to ``carrier``
        (the spacecraft itself, or one the mesh brings it from), for the account that
        submitted the job (which must hold command authority, or nobody does); BrokerError
        why not."""
        assert job.spacecraft is not None
        craft, via = self.spacecraft(job.spacecraft), self.spacecraft(carrier)
        holder, account, name = self.authority.holder, job.account, "SUBMIT_JOB"
        try:
            if holder not in (None, account):
                raise ValueError(f"command authority is held by {holder}, not {account}")
            if not via.link_up:
                raise ValueError(f"{via.name}'s space link is down: it cannot carry it now")
            args = craft.signed_job(name, {"manifest": job.manifest})
            encode_command(name, args)
            placed = [(board, Path(path)) for path, board in job.files]
            _, consignment = self._consign(account, "broker", craft, via, placed, [(name, args)])
        except (KeyError, FieldError, ValueError) as exc:
            raise BrokerError(str(exc.args[0])) from None
        except OSError as exc:
            raise BrokerError(f"an input cannot be read: {exc}") from None
        return consignment.packets[0][:4]

    def broker_said(self, line: str) -> None:
        log.warning("%s", line)
        self.broadcast({"op": "broker", "message": line})

    def heard(self, craft: Spacecraft, packet: Telemetry) -> None:
        """A spacecraft's live telemetry at its time: the broker may act while it is in
        contact."""
        self.broker.heard(craft.name, packet.time)

    def job_event(self, craft: Spacecraft, tm: DecodedTelemetry) -> None:
        self.broker.job_event(craft.name, tm.name, tm.values["job_id"], tm.values, tm.packet.time)

    def job_detail(self, craft: Spacecraft, tm: DecodedTelemetry) -> None:
        if isinstance(tm.values.get("job"), dict):
            self.broker.job_detail(craft.name, tm.values["job"])

    def command_failed(self, craft: Spacecraft, request_id: bytes, code: str, reason: str) -> None:
        self.broker.refused_on_board(craft.name, request_id, reason, code)

    def spacecraft_of(self, entity: int) -> Spacecraft | None:
        return self.craft.get(entity)  # a payload's entity id on the mesh is its spacecraft id


def _file_refusal(path: Any, dest: Any) -> str | None:
    """Why a file cannot go up as ``dest`` in the payload's file store (None: it can)."""
    if not isinstance(path, str) or not isinstance(dest, str) or not dest:
        return "an upload needs a path and a name"
    if "\0" in path or "\0" in dest or len(dest.encode("utf-8", "replace")) > 255:
        return "a name holds a NUL or is too long"
    pure = PurePosixPath(dest)
    if pure.is_absolute() or ".." in pure.parts:
        return f"{dest!r} is not a plain relative name"
    if not Path(path).is_file():
        return f"no file {path}"
    return None


def _names(fleet: list[SpacecraftConfig], scids: list[int]) -> str:
    return ", ".join(f"{c.name} {c.scid}" for c in fleet if c.scid in scids)


def _peer(writer: asyncio.StreamWriter) -> tuple[str, str]:
    """The client's address as the audit trail records it (host:port), and its host."""
    name = writer.get_extra_info("peername")
    if isinstance(name, tuple) and len(name) >= 2:
        return f"{name[0]}:{name[1]}", str(name[0])
    return str(name or "unknown"), str(name or "unknown")


def _time(message: dict[str, Any]) -> float | None:
    """A request's ``at``, its sender's time (UTC seconds), if it gives one; BrokerError if it
    is not a time."""
    at = message.get("at")
    if at is None:
        return None
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not 0 <= at < 2**32:
        raise BrokerError("at: the time of the request, UTC seconds")
    return float(at)


def _plain(ref: Any) -> int | str | None:
    """A client's request reference as it is echoed back: a number or a short text, else None."""
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        return None
    if isinstance(ref, int):
        return ref if -(2**63) <= ref < 2**64 else None
    return ref[:64]
