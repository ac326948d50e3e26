"""The ground station: holds the space link to the spacecraft and serves operator clients.

It encodes telecommands from the flight dictionary (assigning the sequence counts, as a mission
control system does), sends them up the space link, and passes every telemetry packet that comes
down to every connected client, once (stored telemetry played back from files included). Its CFDP
entity receives the payload's files into STATE/files (ground/files.py checks and lists them);
every packet and command is archived (ground/archive/: SQLite or PostgreSQL).
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
import hashlib
import logging
import os
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from flight import dictionary as d
from flight.cfdp.entity import Entity
from flight.cfdp.filestore import FileStore
from flight.cfdp.journal import Journal
from flight.cfdp.mib import EntityConfig
from flight.downlink import FLIGHT_ENTITY, GROUND_ENTITY
from flight.protocol.fields import FieldError
from flight.protocol.messages import CommandEncoder, decode_telemetry, encode_command
from flight.protocol.packets import PacketError, Telemetry, parse_packet
from flight.security.job_auth import SIGNATURE, sign_manifest
from flight.security.keys import KeyFile
from flight.security.tc_auth import TRAILER_LEN, TcSigner
from flight.spacelink.fop import Cop1Refused
from flight.spacelink.profile import DEFAULT_SCID, LinkProfile
from ground.accounts.authority import AuthorityRefused, CommandAuthority
from ground.accounts.privileges import command_refusal, cop1_refusal, upload_refusal
from ground.accounts.store import Account, AccountStore
from ground.archive import Archive
from ground.audit import HEAD_LOG_EVERY
from ground.cop1_directives import direct
from ground.files import FileRegistry, stored_packets
from ground.gatekeeper import Gatekeeper, Session
from ground.messages import encode_message, read_messages
from ground.space_link import GroundLink

log = logging.getLogger("ground.station")
RECONNECT_S = 0.5
LINK_READ = 1 << 16
DEFAULT_PROFILE = LinkProfile(DEFAULT_SCID)
_CFDP_PDU = (210, 1)
_SEEN_KEPT = 200_000
CLIENT_BACKLOG = 16 << 20  # octets unread by a client before it is disconnected
INACTIVITY_S = 86_400.0
ARCHIVE_FLUSH_S = 0.2
PRUNE_EVERY_S = 3600.0
UPLINK_BPS = 64_000.0
# primary and PUS TC headers, the bytes field's length, the authentication trailer, the CRC
UPLINK_OVERHEAD = 20 + TRAILER_LEN
REVOCATION_CHECK_S = 0.5  # how often the account store is looked at for revoked tokens
_VERIFICATION_KEPT = 10_000  # commands whose verification reports are audited


class _SpaceLink:
    """The station's space link as the CFDP entity's link adapter: uplink paced to rate_bps in
    spacecraft time (the clock of the latest telemetry), at most a second's worth at once."""

    name = "space link"
    mtu = 4000

    def __init__(self, station: Station, rate_bps: float = UPLINK_BPS) -> None:
        self.station = station
        self.rate_bps = rate_bps
        self.budget = 0.0
        self.stamp = 0.0

    def _refill(self) -> None:
        now = self.station.spacecraft_time
        if now > self.stamp:
            self.budget = min(
                self.rate_bps / 8, self.budget + (now - self.stamp) * self.rate_bps / 8
            )
            self.stamp = now

    def open(self) -> None:
        """The station holds the link."""

    def close(self) -> None:
        """The station holds the link."""

    @property
    def up(self) -> bool:
        return self.station.link_up

    def ready(self) -> bool:
        self._refill()
        return self.station.link_up and self.budget > 0

    def send(self, pdu: bytes) -> None:
        self.budget -= len(pdu) + UPLINK_OVERHEAD
        self.station.uplink_pdu(pdu)

    def receive(self, timeout: float) -> list[bytes]:
        return []  # the station hands PDUs over as they come down


class Station:
    """One ground station: a space link and any number of clients."""

    def __init__(
        self,
        link_host: str,
        link_port: int,
        keys: Path,
        state_dir: Path = Path("ground-state"),
        echo_idle: bool = False,
        *,
        accounts: AccountStore,
        profile: LinkProfile = DEFAULT_PROFILE,
        tls: ssl.SSLContext | None = None,
        archive: str | None = None,
        retain_s: float | None = None,
    ) -> None:
        self.link_host = link_host
        self.echo_idle = echo_idle  # the space link's loopback (flight/protocol/loopback.py)
        self.link_port = link_port
        self.tc_sent = 0
        self.client_errors = 0  # client requests that ran into a defect (logged)
        self.link_errors = 0  # space link reads that ran into a defect (logged)
        self.clients_dropped = 0  # clients disconnected for not reading
        self.key_file = KeyFile(keys)
        self.key_file.keys()  # an unusable key file stops the station at its start (KeyFileError)
        self.commands = CommandEncoder(
            TcSigner(self.key_file.keys, d.SOURCE_GROUND), d.ACK_GROUND_DEFAULT
        )
        self._uplink: asyncio.StreamWriter | None = None
        self.scid = profile.scid
        self._cop1_said = ""
        self.link = GroundLink(
            [profile], self._send_up, lambda: self.spacecraft_time, self._delivery
        )
        self._clients: dict[asyncio.StreamWriter, Session] = {}
        self.tls = tls
        state_dir.mkdir(parents=True, exist_ok=True)
        self.spacecraft_time = 0.0  # of the latest telemetry: the CFDP entity's clock
        self.files = FileRegistry(state_dir)
        self.cfdp = Entity(
            # Passes can be hours apart: a transfer waits for the next one.
            EntityConfig(GROUND_ENTITY, inactivity_timeout=INACTIVITY_S),
            _SpaceLink(self),
            FileStore(self.files.files_dir),
            Journal(state_dir / "cfdp.sqlite"),
            clock=lambda: self.spacecraft_time,
        )
        self._seen: OrderedDict[bytes, bool] = OrderedDict()  # packet -> seen in playback
        self.archive = Archive(archive or state_dir / "archive.sqlite")
        self.retain_s = retain_s  # retention: packets and commands older are deleted
        self.archive_errors = 0
        self.files_repeated = 0  # files the payload sent again that the ground already had
        self._archive_failing = False
        self.accounts = accounts
        self.gate = Gatekeeper(accounts, self.audit)
        self.authority = CommandAuthority()
        self._sent_by: OrderedDict[bytes, str] = OrderedDict()  # request id -> account
        self._accounts_version = accounts.version()

    def audit(
        self, account: str | None, peer: str | None, action: str, outcome: str, **detail: Any
    ) -> None:
        """One row of the audit trail (committed with the archive's next flush)."""
        head = self.archive.audit.append(time.time(), account, peer, action, outcome, **detail)
        if self.archive.audit.seq % HEAD_LOG_EVERY == 0:
            log.info("audit trail: row %d, head %s", self.archive.audit.seq, head.hex())

    @property
    def link_up(self) -> bool:
        """Whether the space link is connected."""
        return self._uplink is not None

    async def serve(self, host: str, port: int, port_file: Path | None = None) -> None:
        """Serve clients on host:port and keep the space link up, until cancelled."""
        server = await asyncio.start_server(self._client, host, port, ssl=self.tls)
        bound = server.sockets[0].getsockname()[1]
        log.info(
            "listening on %s:%d, space link %s:%d", host, bound, self.link_host, self.link_port
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
                await self._hold_link()
        finally:
            flushing.cancel()
            revoking.cancel()
            self._archiving(self.archive.flush)

    async def _flush_archive(self) -> None:
        """Commit what the archive holds a few times a second: a crash loses at most that; and
        delete what is older than the retention, once an hour."""
        pruned = 0.0
        while True:
            await asyncio.sleep(ARCHIVE_FLUSH_S)
            self._archiving(self.archive.flush)
            now = time.time()
            if self.retain_s is not None and now - pruned >= PRUNE_EVERY_S:
                pruned = now
                self._archiving(self._prune, now - self.retain_s)

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

    def _archiving(self, step: Callable[..., None], *args: Any) -> None:
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

    async def _hold_link(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.link_host, self.link_port)
            except OSError:
                await asyncio.sleep(RECONNECT_S)
                continue
            self._uplink = writer
            self._broadcast({"op": "link", "up": True})
            log.info("space link up")
            try:
                while data := await reader.read(LINK_READ):
                    self._frames(data)
            except OSError:
                pass
            finally:  # lost, or the station is stopping
                self._uplink = None
                writer.close()
                self.link.ended()
            self._broadcast({"op": "link", "up": False})
            log.warning("space link down")
            await asyncio.sleep(RECONNECT_S)

    def _frames(self, data: bytes) -> None:
        """Octets from the space link: their frames' packets, the loopback's echo, COP-1. A
        defect they run into is logged and counted, and the link is served on."""
        try:
            self._take_frames(data)
        except Exception:
            self.link_errors += 1
            log.exception("the space link's octets ran into a defect")

    def _take_frames(self, data: bytes) -> None:
        packets, loopbacks = self.link.received(data)
        for _, raw in packets:
            self.downlinked(raw)
        for packet in loopbacks:  # everything that came before it is answered
            if self.echo_idle:
                self.link.expedited(self.scid, packet)
        self.link.tick()
        self._cop1_news()

    def _cop1_news(self) -> None:
        """Every client told when COP-1's state changes (an alert, the service initiated)."""
        summary = self.link.summary()
        if summary != self._cop1_said:
            self._cop1_said = summary
            self._broadcast({"op": "cop1", "summary": summary})

    def _send_up(self, data: bytes) -> None:
        if self._uplink is not None:
            self._uplink.write(data)

    def _delivery(self, tag: Any, delivered: bool, why: str) -> None:
        """COP-1's word on a telecommand: acknowledged by the spacecraft, or given up."""
        account, request_id, name = tag
        if not delivered:
            log.warning("%s (%s) not delivered: %s", name, request_id.hex(), why)
            self.audit(account, None, "command", f"not delivered: {why}", request_id=request_id)
        self._broadcast(
            {"op": "delivery", "request_id": request_id, "delivered": delivered, "why": why}
        )

    def downlinked(self, raw: bytes) -> None:
        """One packet from the space link: CFDP PDUs to the CFDP entity, the rest to clients."""
        try:
            packet = parse_packet(raw)
        except PacketError:
            self._telemetry(raw, playback=False)  # clients count and show bad packets
            return
        if isinstance(packet, Telemetry):
            self.spacecraft_time = max(self.spacecraft_time, packet.time)
            if (packet.service, packet.subtype) == _CFDP_PDU:
                self._archiving(self.archive.packet, self.scid, raw, time.time())
                try:
                    self.cfdp.receive(decode_telemetry(packet).values["pdu"])
                except FieldError:
                    self.cfdp.counters["pdu_refused_packet"] += 1
                self._cfdp_poll()
                return
        self._telemetry(raw, playback=False)
        self._cfdp_poll()

    def _telemetry(self, raw: bytes, playback: bool) -> None:
        """To the clients, once: a packet both played back and received live goes once, and a
        recording played back again goes no further. The same octets received live again are
        a new packet (a payload started again sends, before its time is synchronised, the
        same first packets as its run before: time 0, counters from 0), and go on."""
        key = hashlib.blake2b(raw, digest_size=16).digest()
        seen_in_playback = self._seen.get(key)
        if seen_in_playback or (seen_in_playback is not None and playback):
            return
        self._seen[key] = playback
        self._seen.move_to_end(key)
        if len(self._seen) > _SEEN_KEPT:
            self._seen.popitem(last=False)
        self._sequence_floor(raw)
        self._audit_verification(raw)
        ert = time.time()
        self._archiving(self.archive.packet, self.scid, raw, ert, playback)
        self._broadcast({"op": "tm", "raw": raw, "ert": ert, "playback": playback})

    def _sequence_floor(self, raw: bytes) -> None:
        """A restarted payload's SEQUENCE_FLOOR, live or played back: sign above it."""
        if len(raw) < 20 or raw[7:9] != bytes([5, 1]):  # not an informative event (PUS 5,1)
            return
        try:
            tm = decode_telemetry(parse_packet(raw))
        except (PacketError, FieldError):
            return
        if tm.name == "SEQUENCE_FLOOR":
            self.commands.signer.heard_floor(tm.values["key_id"], tm.values["floor"])

    def _audit_verification(self, raw: bytes) -> None:
        """A PUS 1 report about a command a client sent here: into the audit trail."""
        if len(raw) < 20 or raw[7] != 1 or not self._sent_by:  # not a verification report
            return
        try:
            tm = decode_telemetry(parse_packet(raw))
        except (PacketError, FieldError):
            return
        if tm.packet.dest_id != d.SOURCE_GROUND:  # about one of the bus's own commands
            return
        v = tm.values
        request_id = v["request_packet_id"].to_bytes(2, "big") + v["request_seq_ctrl"].to_bytes(
            2, "big"
        )
        account = self._sent_by.get(request_id)
        if account is None:
            return
        detail: dict[str, Any] = {"request_id": request_id}
        if "code" in v:
            code = v["code"]
            known = code in d.FailureCode._value2member_map_
            detail |= {"code": d.FailureCode(code).name if known else code, "reason": v["reason"]}
        self.audit(account, None, "verification", tm.name.lower(), **detail)
        if tm.name.startswith("COMPLETION") or tm.name.endswith("_FAILURE"):
            del self._sent_by[request_id]

    def _cfdp_poll(self) -> None:
        self.cfdp.poll()
        while self.cfdp.reports:
            r = self.cfdp.reports.popleft()
            if r.role != "receive":
                continue
            name = r.dest_name or ""
            row, repeat = self.files.received(name, r.size, r.condition.name, r.delivered)
            if repeat:
                self.files_repeated += 1
                log.info("file %s: delivered again, the same content: kept once", name)
                continue
            log.info("file %s: %s, %s", name, r.condition.name, row.check)
            self._broadcast(
                {
                    "op": "file",
                    "name": name,
                    "size": r.size,
                    "condition": r.condition.name,
                    "delivered": r.delivered,
                    "check": row.check,
                }
            )
            if r.delivered and name.startswith("stored/") and r.path:
                for raw in stored_packets(Path(r.path)):
                    self._telemetry(raw, playback=True)

    def uplink_pdu(self, pdu: bytes) -> None:
        """A PDU of the ground's CFDP entity, up as a CFDP_PDU telecommand asking no reports
        (with no key to sign it, it stays down; CFDP sends it again)."""
        if self._uplink is None:
            return
        try:
            packet = self.commands.packet("CFDP_PDU", {"pdu": pdu}, ack_flags=0)
        except ValueError as exc:
            log.error("file PDU not sent: %s", exc)
            return
        self.link.expedited(self.scid, packet)

    def _broadcast(self, message: dict[str, Any]) -> None:
        data = encode_message(message)
        for client in list(self._clients):
            if client.is_closing():
                self._clients.pop(client, None)
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
            "link_up": self.link_up,
            "authority": self.authority.holder,
            "cop1": self.link.summary(),
        }

    def _answer(
        self, session: Session, writer: asyncio.StreamWriter, message: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A client's request answered; a defect it runs into is answered as an error, logged
        and counted, and the station serves on."""
        ref = _plain(message.get("ref"))
        try:
            op = message.get("op")
            if op not in ("command", "upload", "files", "authority", "transfers", "cop1"):
                return None
            account = self.gate.current(session)
            if account is None:
                self._drop(writer, session, "credential revoked")
                return None
            if op == "command":
                return self.uplink_command(session, message)
            if op == "upload":
                return self.upload(session, message)
            if op == "authority":
                return self._authority(session, message)
            if op == "cop1":
                return self._cop1(session, message)
            if op == "transfers":
                return {"op": "transfers", "ref": ref, "transfers": self.transfers()}
            rows = [dataclasses.asdict(r) for r in self.files.rows()]
            return {"op": "files", "ref": ref, "files": rows}
        except Exception as exc:
            self.client_errors += 1
            log.exception("a client's request raised")
            return {"op": "error", "ref": ref, "message": f"{exc!r}"}

    def transfers(self) -> list[dict[str, Any]]:
        """The CFDP transactions in progress, down and up: their names, sizes and the octets
        received (down) or sent (up) so far."""
        out = []
        for t in self.cfdp.receivers.values():
            meta = t.metadata
            out.append({
                "direction": "down",
                "seq_num": t.header.seq_num,
                "name": meta.dest_name if meta else None,
                "size": meta.file_size if meta else None,
                "octets": t.received.total(),
                "state": t.state.name,
            })  # fmt: skip
        for t in self.cfdp.senders.values():
            out.append({
                "direction": "up",
                "seq_num": t.header.seq_num,
                "name": t.dest_name,
                "size": t.size,
                "octets": t.next_offset,
                "state": t.state.name,
            })  # fmt: skip
        return out

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
        """COP-1's state and its channels' counts; or an operator's directive, then those."""
        ref, directive = _plain(message.get("ref")), message.get("directive")
        if directive is not None:
            account = session.account
            refusal = cop1_refusal(account.role) or self._may_command(session)
            try:
                if refusal is not None:
                    raise Cop1Refused(refusal)
                direct(self.link.fop(self.scid), str(directive)[:32], message)
            except Cop1Refused as exc:
                self.audit(account.name, session.peer, "cop1", f"refused: {exc}", asked=directive)
                return {"op": "error", "ref": ref, "message": str(exc)}
            log.warning("COP-1: %s by %s", directive, account.name)
            self.audit(account.name, session.peer, "cop1", "done", directive=directive)
            self._cop1_news()
        return {"op": "cop1", "ref": ref, "spacecraft": self.link.status()}

    def _authority_changed(
        self, account: str, peer: str | None, outcome: str, **detail: Any
    ) -> None:
        self.audit(account, peer, "authority", outcome, holder=self.authority.holder, **detail)
        self._broadcast({"op": "authority", "holder": self.authority.holder})

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

    def upload(self, session: Session, message: dict[str, Any]) -> dict[str, Any]:
        """Queue a file for the payload's file store (CFDP class 2); the answer for the client."""
        answer = self._upload(session, message)
        outcome = "queued" if answer["op"] == "queued" else f"refused: {answer['message']}"
        self.audit(
            session.account.name,
            session.peer,
            "upload",
            outcome,
            path=message.get("path"),
            dest=message.get("dest"),
            seq_num=answer.get("seq_num"),
        )
        return answer

    def _upload(self, session: Session, message: dict[str, Any]) -> dict[str, Any]:
        ref, path, dest = _plain(message.get("ref")), message.get("path"), message.get("dest")
        refusal = upload_refusal(session.account.role) or self._may_command(session)
        if refusal is not None:
            return {"op": "error", "ref": ref, "message": refusal}
        if not isinstance(path, str) or not isinstance(dest, str) or not dest:
            return {"op": "error", "ref": ref, "message": "an upload needs a path and a name"}
        if "\0" in path or "\0" in dest or len(dest.encode("utf-8", "replace")) > 255:
            return {"op": "error", "ref": ref, "message": "a name holds a NUL or is too long"}
        pure = PurePosixPath(dest)
        if pure.is_absolute() or ".." in pure.parts:
            return {"op": "error", "ref": ref, "message": f"{dest!r} is not a plain relative name"}
        if not Path(path).is_file():
            return {"op": "error", "ref": ref, "message": f"no file {path}"}
        seq = self.cfdp.put(Path(path).resolve(), dest, remote_id=FLIGHT_ENTITY)
        self._cfdp_poll()
        return {"op": "queued", "ref": ref, "seq_num": seq}

    def _signed_job(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """SUBMIT_JOB's arguments with the manifest signed by the station's job key, unless it
        came signed (offline) or the station holds no job key (the payload then refuses it)."""
        manifest = args.get("manifest")
        if name != "SUBMIT_JOB" or not isinstance(manifest, dict) or SIGNATURE in manifest:
            return args
        signers = [k for k in self.key_file.job_keys().values() if k.private is not None]
        if not signers:
            return args
        return args | {"manifest": sign_manifest(manifest, min(signers, key=lambda k: k.key_id))}

    def uplink_command(self, session: Session, message: dict[str, Any]) -> dict[str, Any]:
        """Encode and send one command; the answer for the client that asked."""
        answer = self._uplink_command(session, message)
        name, args = message.get("name"), message.get("args")
        if answer["op"] == "sent":
            self._sent_by[answer["request_id"]] = session.account.name
            if len(self._sent_by) > _VERIFICATION_KEPT:
                self._sent_by.popitem(last=False)
            detail = {"request_id": answer["request_id"]}
            self.audit(
                session.account.name,
                session.peer,
                "command",
                "sent",
                name=name,
                args=args,
                **detail,
            )
        else:
            self.audit(
                session.account.name,
                session.peer,
                "command",
                f"refused: {answer['message']}",
                name=str(name)[:64],
                args=args if isinstance(args, dict) else repr(args)[:256],
            )
        return answer

    def _uplink_command(self, session: Session, message: dict[str, Any]) -> dict[str, Any]:
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
            args = self._signed_job(name, args)
            encode_command(name, args)  # validate before anything else: a typo is a typo
            if self._uplink is None:
                return {"op": "error", "ref": ref, "message": "space link down: command not sent"}
            bypass = message.get("bypass") is True
            fop = self.link.fop(self.scid)
            if not bypass and not fop.accepting:
                raise Cop1Refused(
                    f"COP-1 is {fop.describe()}: command not sent (python -m ground cop1)"
                )
            packet = self.commands.packet(name, args)  # numbered only when it goes up
            tag = (session.account.name, packet[:4], name)
            self.link.command(self.scid, packet, tag, bypass=bypass)
        except (KeyError, FieldError, ValueError, Cop1Refused) as exc:
            return {"op": "error", "ref": ref, "message": str(exc.args[0])}
        self.tc_sent += 1
        self.archive.command(self.scid, time.time(), name, args, packet[:4], session.account.name)
        return {"op": "sent", "ref": ref, "request_id": packet[:4]}


def _peer(writer: asyncio.StreamWriter) -> tuple[str, str]:
    """The client's address as the audit trail records it (host:port), and its host."""
    name = writer.get_extra_info("peername")
    if isinstance(name, tuple) and len(name) >= 2:
        return f"{name[0]}:{name[1]}", str(name[0])
    return str(name or "unknown"), str(name or "unknown")


def _plain(ref: Any) -> int | str | None:
    """A client's request reference as it is echoed back: a number or a short text, else None."""
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        return None
    if isinstance(ref, int):
        return ref if -(2**63) <= ref < 2**64 else None
    return ref[:64]
