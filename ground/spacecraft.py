"""One spacecraft as the ground station serves it: its telecommand keys and command encoder,
its CFDP entity with its files, register and journal, the telemetry it sends (each packet to
the clients once, archived under its spacecraft id), and the commands of its whose verification
reports go into the audit trail. The station (ground/station.py) holds one per spacecraft of
its fleet (ground/fleet.py) and routes to each what its frames carry."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from flight import dictionary as d
from flight.cfdp.entity import Entity
from flight.cfdp.filestore import FileStore
from flight.cfdp.journal import Journal
from flight.cfdp.mib import EntityConfig
from flight.downlink import GROUND_ENTITY
from flight.protocol.fields import FieldError
from flight.protocol.messages import CommandEncoder, DecodedTelemetry, decode_telemetry
from flight.protocol.packets import PacketError, Telemetry, parse_packet
from flight.relay.consignment import consignment_name, files_sha256, write_consignment
from flight.relay.service import parse_relayed, relayed_name
from flight.relay.snapshot import parse_snapshot
from flight.security.job_auth import SIGNATURE, sign_manifest
from flight.security.keys import KeyFile
from flight.security.tc_auth import TRAILER_LEN, TcSigner
from ground.archive import Archive
from ground.files import FileRegistry, stored_packets
from ground.fleet import SpacecraftConfig

log = logging.getLogger("ground.station")
_CFDP_PDU = (210, 1)
_HOUSEKEEPING = d.TELEMETRY_BY_NAME["HOUSEKEEPING"]
_HOUSEKEEPING_TYPE = (_HOUSEKEEPING.service, _HOUSEKEEPING.subtype)
_JOB_DETAIL = bytes(
    (d.TELEMETRY_BY_NAME["JOB_DETAIL"].service, d.TELEMETRY_BY_NAME["JOB_DETAIL"].subtype)
)
# What the fleet view shows of each spacecraft's latest housekeeping: power, GPU, queue, contact.
HEALTH_FIELDS = (
    "power_allowance_w",
    "battery_soc",
    "sunlit",
    "eclipse_in_s",
    "link_in_s",
    "jobs_queued",
    "job_state",
    "gpu_valid",
    "gpu_temp_c",
    "gpu_power_w",
    "safe_mode",
    "governor_mode",
    "isl_links",
    "relay_files",
)
_SEEN_KEPT = 200_000
INACTIVITY_S = 86_400.0
UPLINK_BPS = 64_000.0
# primary and PUS TC headers, the bytes field's length, the authentication trailer, the CRC
UPLINK_OVERHEAD = 20 + TRAILER_LEN
_VERIFICATION_KEPT = 10_000  # commands whose verification reports are audited


@dataclass(frozen=True)
class OutgoingConsignment:
    """A consignment written for a spacecraft: its name on the mesh, its file, and its
    telecommands after the head (docs/constellation.md)."""

    name: str
    path: Path
    packets: list[bytes]


class Ground(Protocol):
    """What a spacecraft needs of the station that serves it."""

    archive: Archive

    def archiving(self, step: Callable[..., None], *args: Any) -> None: ...

    def broadcast(self, message: dict[str, Any]) -> None: ...

    def audit(
        self, account: str | None, peer: str | None, action: str, outcome: str, **detail: Any
    ) -> None: ...

    def link_up(self, scid: int) -> bool: ...

    def expedited(self, scid: int, packet: bytes) -> None: ...

    def heard(self, craft: Spacecraft, packet: Telemetry) -> None: ...

    def job_event(self, craft: Spacecraft, tm: DecodedTelemetry) -> None: ...

    def job_detail(self, craft: Spacecraft, tm: DecodedTelemetry) -> None: ...

    def command_failed(
        self, craft: Spacecraft, request_id: bytes, code: str, reason: str
    ) -> None: ...

    def spacecraft_of(self, entity: int) -> Spacecraft | None:
        """The spacecraft whose payload is CFDP entity ``entity`` on the mesh (its id)."""
        ...


class _SpaceLink:
    """A spacecraft's space link as its CFDP entity's link adapter: uplink paced to rate_bps in
    spacecraft time (the clock of its latest telemetry), at most a second's worth at once."""

    name = "space link"
    mtu = 4000

    def __init__(self, craft: Spacecraft, rate_bps: float = UPLINK_BPS) -> None:
        self.craft = craft
        self.rate_bps = rate_bps
        self.budget = 0.0
        self.stamp = 0.0

    def _refill(self) -> None:
        now = self.craft.spacecraft_time
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
        return self.craft.link_up

    def ready(self) -> bool:
        self._refill()
        return self.craft.link_up and self.budget > 0

    def send(self, pdu: bytes) -> None:
        self.budget -= len(pdu) + UPLINK_OVERHEAD
        self.craft.uplink_pdu(pdu)

    def receive(self, timeout: float) -> list[bytes]:
        return []  # the station hands PDUs over as they come down


class Spacecraft:
    def __init__(self, config: SpacecraftConfig, state: Path, ground: Ground) -> None:
        self.config = config
        self.name = config.name
        self.scid = config.scid
        self.ground = ground
        self.key_file = KeyFile(config.keys)
        self.key_file.keys()  # an unusable key file stops the station at its start (KeyFileError)
        self.commands = CommandEncoder(
            TcSigner(self.key_file.keys, d.SOURCE_GROUND), d.ACK_GROUND_DEFAULT
        )
        state_dir = config.state_dir(state)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.consignments = state_dir / "consignments"  # each kept as it went up
        self.spacecraft_time = 0.0  # of its latest telemetry: its CFDP entity's clock
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
        self._sent_by: OrderedDict[bytes, str] = OrderedDict()  # request id -> account
        self.tc_sent = 0
        self.tm_received = 0
        self.last_tm_ert: float | None = None
        self.latest_hk: Telemetry | None = None  # its latest housekeeping, decoded when asked
        self.files_repeated = 0  # files the payload sent again that the ground already had

    @property
    def link_up(self) -> bool:
        return self.ground.link_up(self.scid)

    def describe(self) -> dict[str, Any]:
        """Its line in the fleet view (docs/icd.md section 11)."""
        return self.config.describe() | {
            "link_up": self.link_up,
            "spacecraft_time": self.spacecraft_time or None,
            "last_tm_ert": self.last_tm_ert,
            "tm_received": self.tm_received,
            "tc_sent": self.tc_sent,
            "files": len(self.files.rows()),
            "transfers": len(self.cfdp.receivers) + len(self.cfdp.senders),
            "health": self.health(),
        }

    def health(self) -> dict[str, Any] | None:
        """Its power, GPU, queue and contact as its latest housekeeping gave them (the job's
        state and the governor's mode by name, flags 0 or 1, a value that was not valid None,
        as the GPU's while it is off), with that housekeeping's spacecraft time; None before
        any."""
        if self.latest_hk is None:
            return None
        try:
            values = decode_telemetry(self.latest_hk).values
        except FieldError:
            return None
        health = {name: values.get(name) for name in HEALTH_FIELDS}  # an older dictionary: None
        for f in _HOUSEKEEPING.fields:
            if f.name in ("job_state", "governor_mode"):
                health[f.name] = f.label(health[f.name])
        return health | {"hk_time": self.latest_hk.time}

    # --- down
    def downlinked(self, raw: bytes) -> None:
        """One packet of its frames: CFDP PDUs to its CFDP entity, the rest to clients."""
        self.tm_received += 1
        self.last_tm_ert = time.time()
        try:
            packet = parse_packet(raw)
        except PacketError:
            self.telemetry(raw, playback=False)  # clients count and show bad packets
            return
        if isinstance(packet, Telemetry):
            self.spacecraft_time = max(self.spacecraft_time, packet.time)
            is_hk = (packet.service, packet.subtype) == _HOUSEKEEPING_TYPE
            if is_hk and (self.latest_hk is None or packet.time >= self.latest_hk.time):
                self.latest_hk = packet
            self.ground.heard(self, packet)
            if (packet.service, packet.subtype) == _CFDP_PDU:
                self.ground.archiving(self.ground.archive.packet, self.scid, raw, time.time())
                try:
                    self.cfdp.receive(decode_telemetry(packet).values["pdu"])
                except FieldError:
                    self.cfdp.counters["pdu_refused_packet"] += 1
                self.cfdp_poll()
                return
        self.telemetry(raw, playback=False)
        self.cfdp_poll()

    def telemetry(self, raw: bytes, playback: bool) -> None:
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
        self._observe(raw)
        self._audit_verification(raw)
        ert = time.time()
        self.ground.archiving(self.ground.archive.packet, self.scid, raw, ert, playback)
        self.ground.broadcast(
            {"op": "tm", "raw": raw, "ert": ert, "playback": playback, "spacecraft": self.scid}
        )

    def _observe(self, raw: bytes) -> None:
        """An event, live or played back: a restarted payload's SEQUENCE_FLOOR (sign above it),
        or a job's, and a job's detail report (to the fleet broker)."""
        if len(raw) < 20:
            return
        if not (raw[7] == 5 and 1 <= raw[8] <= 4) and raw[7:9] != _JOB_DETAIL:
            return
        try:
            tm = decode_telemetry(parse_packet(raw))
        except (PacketError, FieldError):
            return
        if tm.name == "SEQUENCE_FLOOR":
            self.commands.signer.heard_floor(tm.values["key_id"], tm.values["floor"])
        elif tm.name == "JOB_DETAIL":
            self.ground.job_detail(self, tm)
        elif tm.name.startswith("JOB_") and "job_id" in tm.values:
            self.ground.job_event(self, tm)

    def _audit_verification(self, raw: bytes) -> None:
        """A PUS 1 report about a command a client sent it: into the audit trail."""
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
        detail: dict[str, Any] = {"request_id": request_id, "spacecraft": self.scid}
        if "code" in v:
            code = v["code"]
            known = code in d.FailureCode._value2member_map_
            detail |= {"code": d.FailureCode(code).name if known else code, "reason": v["reason"]}
        self.ground.audit(account, None, "verification", tm.name.lower(), **detail)
        if tm.name.endswith("_FAILURE"):
            self.ground.command_failed(
                self, request_id, str(detail.get("code", "")), str(v.get("reason", ""))
            )
        if tm.name.startswith("COMPLETION") or tm.name.endswith("_FAILURE"):
            del self._sent_by[request_id]

    def cfdp_poll(self) -> None:
        self.cfdp.poll()
        while self.cfdp.reports:
            r = self.cfdp.reports.popleft()
            if r.role != "receive":
                continue
            name = r.dest_name or ""
            where = parse_relayed(name) if r.delivered and r.path else None
            origin = self.ground.spacecraft_of(where[0]) if where else None
            if where is not None and origin is not None and origin is not self:
                origin.adopt(where[1], Path(str(r.path)), r.size, self)
                continue
            if r.delivered and r.path and parse_snapshot(name) is not None:
                self.adopt(name, Path(str(r.path)), r.size, self)
                continue
            self.filed(name, r.size, r.condition.name, r.delivered, r.path)

    def adopt(self, name: str, path: Path, size: int | None, via: Spacecraft) -> None:
        """A file this spacecraft made that came down as ``name`` (by ``via``, itself or one
        that brought it across the laser mesh as ``relay/ORIGIN/NAME``): filed here under its
        name, as if it had come down this spacecraft's own link (a file of DOWNLINK_FILE,
        ``_file/DIGEST/PATH``, under PATH), and kept once however many ways it came."""
        wire = name if via is self else relayed_name(self.scid, name)
        name = parse_snapshot(name) or name
        target = (self.files.files_dir / name).resolve()
        if not target.is_relative_to(self.files.files_dir.resolve()):
            log.error("%s: file %r by %s leaves the file store", self.name, name, via.name)
            via.filed(wire, size, "NO_ERROR", True, str(path))
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        except OSError as exc:  # kept, and listed, under the name it came down by
            log.error("%s: file %r by %s not filed: %s", self.name, name, via.name, exc)
            via.filed(wire, size, "NO_ERROR", True, str(path))
            return
        self.filed(name, size, "NO_ERROR", True, str(target), None if via is self else via)

    def filed(
        self,
        name: str,
        size: int | None,
        condition: str,
        delivered: bool,
        path: str | None,
        via: Spacecraft | None = None,
    ) -> None:
        """A file that arrived: registered and checked, told to the clients once, and stored
        telemetry played back."""
        row, repeat = self.files.received(name, size, condition, delivered)
        name = row.name  # as the file store names it (a peer's leading / is its root)
        if repeat:
            self.files_repeated += 1
            log.info("%s: file %s delivered again, the same content: kept once", self.name, name)
            return
        through = f" (through {via.name})" if via is not None else ""
        log.info("%s: file %s: %s, %s%s", self.name, name, condition, row.check, through)
        message = {
            "op": "file",
            "name": name,
            "size": size,
            "condition": condition,
            "delivered": delivered,
            "check": row.check,
            "spacecraft": self.scid,
        }
        if via is not None:
            message["via"] = via.scid
        self.ground.broadcast(message)
        if delivered and name.startswith("stored/") and path:
            for raw in stored_packets(Path(path)):
                self.telemetry(raw, playback=True)

    # --- up
    def uplink_pdu(self, pdu: bytes) -> None:
        """A PDU of its CFDP entity, up as a CFDP_PDU telecommand asking no reports (with no key
        to sign it, it stays down; CFDP sends it again)."""
        if not self.link_up:
            return
        try:
            packet = self.commands.packet("CFDP_PDU", {"pdu": pdu}, ack_flags=0)
        except ValueError as exc:
            log.error("%s: file PDU not sent: %s", self.name, exc)
            return
        self.ground.expedited(self.scid, packet)

    def put(self, path: Path, dest: str) -> int:
        """Queue a file for its payload's file store (CFDP class 2); the transaction's number."""
        seq = self.cfdp.put(path, dest, remote_id=self.config.entity)
        self.cfdp_poll()
        return seq

    def signed_job(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """SUBMIT_JOB's arguments with the manifest signed by its job key, unless it came signed
        (offline) or the station holds no job key for it (the payload then refuses it)."""
        manifest = args.get("manifest")
        if name != "SUBMIT_JOB" or not isinstance(manifest, dict) or SIGNATURE in manifest:
            return args
        signers = [k for k in self.key_file.job_keys().values() if k.private is not None]
        if not signers:
            return args
        return args | {"manifest": sign_manifest(manifest, min(signers, key=lambda k: k.key_id))}

    def consignment(
        self,
        files: list[tuple[str, Path]],
        commands: list[tuple[str, dict[str, Any]]],
        at: float,
    ) -> OutgoingConsignment:
        """Files (each its name on board, and its path here) and commands for this spacecraft,
        signed with its keys into one consignment to reach it by the mesh, sent at mission time
        ``at`` (its carrier's latest telemetry; 0: unknown, the wall clock's); ValueError,
        KeyError or FieldError if one cannot be signed or encoded."""
        self.consignments.mkdir(exist_ok=True)
        ident = f"c{self._consignment_number(at or time.time())}"
        path = self.consignments / ident
        head = self.commands.packet(
            "CONSIGNMENT_ACCEPT", {"files": len(files), "files_sha256": files_sha256(files)}
        )
        packets = [self.commands.packet(name, args) for name, args in commands]
        write_consignment(path, head, files, packets)
        return OutgoingConsignment(consignment_name(self.scid, ident), path, packets)

    def _consignment_number(self, at: float) -> int:
        """A new consignment's number: the mission time in microseconds, above every number
        this station gave one before, so a run of the bench names its consignments the same
        each time while no two are ever named alike."""
        given = (p.name[1:] for p in self.consignments.iterdir())
        newest = max((int(n) for n in given if n.isdigit()), default=0)
        return max(newest + 1, int(at * 1_000_000))

    def sent(self, request_id: bytes, account: str) -> None:
        """A command of an account's went up: its verification reports are audited."""
        self.tc_sent += 1
        self._sent_by[request_id] = account
        if len(self._sent_by) > _VERIFICATION_KEPT:
            self._sent_by.popitem(last=False)

    def transfers(self) -> list[dict[str, Any]]:
        """Its CFDP transactions in progress, down and up: their names, sizes and the octets
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
