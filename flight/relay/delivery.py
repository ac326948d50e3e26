"""Running a consignment that reached its satellite (docs/constellation.md): its signed
telecommands go through the same admission as those of the satellite's own link (their MACs,
anti-replay, PUS 1 verification reports), the head first. Its files are put in place only by
the head, CONSIGNMENT_ACCEPT, once admitted; only then do the rest run, in order. Only ground
telecommands run from a consignment."""

from __future__ import annotations

from flight import dictionary as d
from flight.commanding.admission import Admission
from flight.commanding.dispatch import Dispatcher
from flight.events import Event
from flight.protocol.packets import PacketError, Telecommand, parse_packet
from flight.relay.consignment import Consignment
from flight.relay.service import Relay

_HEAD = d.COMMANDS_BY_NAME["CONSIGNMENT_ACCEPT"]


def run_consignment(
    consignment: Consignment, relay: Relay, admission: Admission, dispatcher: Dispatcher
) -> Event:
    """Admit and run a consignment's head, then, if its files were placed, its telecommands;
    the event that says what ran."""
    if _is_head(consignment.head):
        relay.delivering = consignment
        try:
            tc = admission.admit(consignment.head)
            if tc is not None:
                dispatcher.execute(tc)
        finally:
            relay.delivering = None
    if consignment.accepted:
        for raw in consignment.packets:
            tc = admission.admit(raw)
            if tc is None:
                continue
            consignment.commands += 1
            if tc.source_id != d.SOURCE_GROUND:
                why = "only ground telecommands run from a consignment"
                dispatcher.verification.rejected(tc, d.FailureCode.WRONG_SOURCE, why)
            else:
                dispatcher.execute(tc)
    return relay.delivered(consignment)


def _is_head(raw: bytes) -> bool:
    try:
        packet = parse_packet(raw)
    except PacketError:
        return False
    return isinstance(packet, Telecommand) and (packet.service, packet.subtype) == (
        _HEAD.service,
        _HEAD.subtype,
    )
