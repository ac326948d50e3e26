"""Dictionary-driven meaning of packets: commands by name, telemetry and events decoded to fields.

The flight controller decodes telecommands and encodes telemetry here; the bench and the ground
station do the reverse with the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flight import dictionary as d
from flight.protocol.fields import (
    Field,
    FieldError,
    clip_texts,
    pack_fields,
    text_fields,
    unpack_fields,
)
from flight.protocol.packets import PacketError, Telecommand, Telemetry, build_tc
from flight.security.tc_auth import TcSigner


@dataclass(frozen=True)
class DecodedTelemetry:
    """A telemetry packet with its meaning: the dictionary name and its fields.

    For events, ``name`` is the event's name and ``event`` its definition.
    """

    name: str
    values: dict[str, Any]
    packet: Telemetry
    event: d.Event | None = None

    @property
    def fields(self) -> tuple[Field, ...]:
        """The dictionary's fields of its values."""
        if self.event is not None:
            return self.event.args
        return d.TELEMETRY_BY_NAME[self.name].fields

    def labelled(self) -> dict[str, Any]:
        """The values as a person reads them: an enum value by its name, a value that is not
        valid as NOT_VALID (never a number)."""
        return {
            f.name: NOT_VALID if self.values.get(f.name) is None and f.valid_when
            else f.label(self.values.get(f.name))
            for f in self.fields
            if f.name in self.values
        }  # fmt: skip


NOT_VALID = "not valid"  # how a value that was not measured is shown


def encode_command(name: str, args: dict[str, Any] | None = None) -> tuple[d.Command, bytes]:
    """The command named and its application data; FieldError/KeyError say what is wrong."""
    try:
        command = d.COMMANDS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown command {name!r}") from None
    return command, pack_fields(command.args, args or {})


class CommandEncoder:
    """Signed telecommand packets from the dictionary, numbered in one sender's packet sequence
    (the ground station's, the bus's: each sender counts its own and signs with its own key)."""

    def __init__(self, signer: TcSigner, ack_flags: int, apid: int = d.APID_PAYLOAD) -> None:
        self.signer = signer
        self.source = signer.source
        self.ack_flags = ack_flags
        self.apid = apid
        self.seq = 0

    def packet(
        self, name: str, args: dict[str, Any] | None = None, ack_flags: int | None = None
    ) -> bytes:
        """The next packet of command ``name`` (with the encoder's acknowledgement flags unless
        others are given): KeyError for an unknown command, FieldError for a bad argument,
        ValueError when it exceeds the MTU or there is no key to sign with (nothing is numbered
        then)."""
        command, data = encode_command(name, args)
        packet = build_tc(
            self.apid,
            self.seq,
            command.service,
            command.subtype,
            data,
            source_id=self.source,
            ack_flags=self.ack_flags if ack_flags is None else ack_flags,
        )
        signed = self.signer.sign(packet)
        self.seq = (self.seq + 1) & 0x3FFF
        return signed

    def restart(self) -> None:
        """Number from zero again (the sender restarted)."""
        self.seq = 0


def decode_command(tc: Telecommand) -> tuple[d.Command, dict[str, Any]]:
    """The dictionary command of a telecommand and its arguments; PacketError if not acceptable."""
    command = d.COMMANDS_BY_TYPE.get((tc.service, tc.subtype))
    if command is None:
        if tc.service not in d.SERVICES:
            raise PacketError(d.FailureCode.ILLEGAL_SERVICE, f"service {tc.service}", tc.request_id)
        raise PacketError(
            d.FailureCode.ILLEGAL_SUBTYPE,
            f"subtype {tc.subtype} of service {tc.service}",
            tc.request_id,
        )
    if tc.source_id != command.source:
        raise PacketError(
            d.FailureCode.WRONG_SOURCE,
            f"{command.name} from source {tc.source_id:#06x}",
            tc.request_id,
        )
    try:
        return command, unpack_fields(command.args, tc.app_data)
    except FieldError as exc:
        raise PacketError(
            d.FailureCode.BAD_ARGUMENTS, f"{command.name}: {exc}", tc.request_id
        ) from None


_TELEMETRY_TEXTS = {kind.name: text_fields(kind.fields) for kind in d.TELEMETRY}
_EVENT_TEXTS = {event.name: text_fields(event.args) for event in d.EVENTS_BY_NAME.values()}


def encode_telemetry(name: str, values: dict[str, Any]) -> tuple[d.TelemetryPacket, bytes]:
    """A telemetry packet kind and its source data; texts longer than their field are cut at
    its limit (clip_texts), the one place where reports fit what they copy from their input."""
    kind = d.TELEMETRY_BY_NAME[name]
    return kind, pack_fields(kind.fields, clip_texts(_TELEMETRY_TEXTS[name], values))


def encode_event(name: str, values: dict[str, Any]) -> tuple[d.TelemetryPacket, bytes]:
    """The PUS 5 packet kind (by severity) and source data of an event, its texts cut to their
    fields' limits as encode_telemetry does."""
    event = d.EVENTS_BY_NAME[name]
    kind = d.TELEMETRY_BY_TYPE[(5, int(event.severity))]
    return kind, pack_fields(d.EVENT_HEADER, {"event_id": event.event_id}) + pack_fields(
        event.args, clip_texts(_EVENT_TEXTS[name], values)
    )


def decode_telemetry(tm: Telemetry) -> DecodedTelemetry:
    """Decode a packet's source data with the dictionary; FieldError if it does not fit."""
    kind = d.TELEMETRY_BY_TYPE.get((tm.service, tm.subtype))
    if kind is None:
        raise FieldError(f"no telemetry TM[{tm.service},{tm.subtype}] in the dictionary")
    if tm.service != 5:
        return DecodedTelemetry(kind.name, unpack_fields(kind.fields, tm.source_data), tm)
    header = unpack_fields(d.EVENT_HEADER, tm.source_data[:2])
    event = d.EVENTS_BY_ID.get(header["event_id"])
    if event is None:
        raise FieldError(f"unknown event id {header['event_id']}")
    return DecodedTelemetry(event.name, unpack_fields(event.args, tm.source_data[2:]), tm, event)
