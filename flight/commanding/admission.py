"""Packet admission: the bytes of the bus link cut into frames, each parsed as a space packet
with its CRC, and a telecommand authenticated (MAC and anti-replay) before anything reads its
arguments. Each refusal is counted and, for a telecommand, answered with its PUS 1 failure."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

from flight import dictionary as d
from flight.commanding.counters import Counters
from flight.commanding.verification import Verification
from flight.protocol.framing import Deframer
from flight.protocol.packets import PacketError, Telecommand, Telemetry, parse_packet
from flight.reports import Reports
from flight.security.tc_auth import TRAILER_LEN, AuthError, TcVerifier

_AUTH_FAILURES = {
    "missing": d.FailureCode.AUTH_MISSING,
    "unknown_key": d.FailureCode.AUTH_UNKNOWN_KEY,
    "bad_mac": d.FailureCode.AUTH_BAD_MAC,
    "replay": d.FailureCode.AUTH_REPLAY,
}
_PACKET_ERROR_COUNTER = {
    d.FailureCode.BAD_CHECKSUM: "packets_bad_crc",
    d.FailureCode.ILLEGAL_APID: "packets_unknown_apid",
}


class Admission:
    """Frames in, authenticated telecommands (their trailer taken off) out."""

    def __init__(
        self, auth: TcVerifier, counters: Counters, verification: Verification, reports: Reports
    ) -> None:
        self.auth = auth
        self.counters = counters
        self.verification = verification
        self.reports = reports
        self.deframer = Deframer()
        self.frames_rx = 0

    def frames(self, data: bytes) -> Iterator[bytes]:
        """The complete frames ``data`` ends, each counted as it is handed over (housekeeping
        counts the frames before it)."""
        for raw in self.deframer.feed(data):
            self.frames_rx += 1
            yield raw

    def admit(self, raw: bytes) -> Telecommand | None:
        """The telecommand in one frame, or None when it is refused (counted and reported)."""
        try:
            packet = parse_packet(raw)
        except PacketError as exc:
            self.counters.add(_PACKET_ERROR_COUNTER.get(exc.code, "packets_bad_header"))
            if exc.request_id is not None and exc.request_id[0] & 0x10:  # a TC: answer it
                self.verification.failure(
                    "ACCEPTANCE_FAILURE", exc.request_id, d.SOURCE_GROUND, exc.code, str(exc)
                )
            return None
        if isinstance(packet, Telemetry):
            self.counters.packets_bad_header += 1
            return None
        try:
            self.auth.check(raw)
        except AuthError as exc:
            self.counters.add(f"tc_auth_{exc.reason}")
            self.verification.rejected(packet, _AUTH_FAILURES[exc.reason], str(exc))
            if exc.key_id is not None and (
                told := self.auth.floor_again(exc.key_id, time.monotonic())
            ):
                self.reports.event(told)
            return None
        except OSError as exc:  # the number could not be recorded: not admitted
            self.verification.rejected(
                packet, d.FailureCode.STORE_FAILURE, f"security state: {exc}"
            )
            return None
        return replace(packet, app_data=packet.app_data[:-TRAILER_LEN])
