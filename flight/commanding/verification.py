"""PUS service 1, request verification: a telecommand's acceptance, and its completion, reported
as its acknowledgement flags ask, and every failure reported with its code and reason whatever the
flags (docs/icd.md, section 4)."""

from __future__ import annotations

import logging

from flight import dictionary as d
from flight.commanding.counters import Counters
from flight.protocol.packets import Telecommand
from flight.reports import Reports

log = logging.getLogger("flight")

MANIFEST_FAILURES = frozenset(
    {
        d.FailureCode.MANIFEST_UNSIGNED,
        d.FailureCode.MANIFEST_SIGNER_UNKNOWN,
        d.FailureCode.MANIFEST_SIGNATURE_BAD,
        d.FailureCode.MANIFEST_INVALID,
        d.FailureCode.MANIFEST_CONTRADICTORY,
        d.FailureCode.MANIFEST_TOO_LARGE,
    }
)


class Verification:
    """The verification reports of one controller, counted in ``counters``."""

    def __init__(self, reports: Reports, counters: Counters) -> None:
        self.reports = reports
        self.counters = counters

    def succeeded(self, tc: Telecommand, flag: int, name: str) -> None:
        """ACCEPTANCE_SUCCESS or COMPLETION_SUCCESS, when the command's ``flag`` asks for it."""
        if tc.ack_flags & flag:
            self.reports.send(name, request_fields(tc.request_id), dest_id=tc.source_id)

    def rejected(self, tc: Telecommand, code: d.FailureCode, reason: str) -> None:
        """Refused at acceptance: counted and reported."""
        self.counters.tc_rejected += 1
        if code in MANIFEST_FAILURES:
            self.counters.manifests_rejected += 1
        self.failure("ACCEPTANCE_FAILURE", tc.request_id, tc.source_id, code, reason)

    def failed(self, tc: Telecommand, code: d.FailureCode, reason: str) -> None:
        """Accepted, then failed in execution: counted and reported."""
        self.counters.tc_failed += 1
        self.failure("COMPLETION_FAILURE", tc.request_id, tc.source_id, code, reason)

    def failure(
        self, name: str, request_id: bytes, dest: int, code: d.FailureCode, reason: str
    ) -> None:
        """A failure report to the command's source (also for a packet too damaged to parse,
        whose request id is all that is known of it)."""
        log.info("%s %s: %s", name, code.name, reason)
        values = request_fields(request_id) | {"code": int(code), "reason": reason}
        self.reports.send(name, values, dest_id=dest)


def request_fields(request_id: bytes) -> dict[str, int]:
    """A verification report's request fields, from the telecommand's request id."""
    return {
        "request_packet_id": int.from_bytes(request_id[:2], "big"),
        "request_seq_ctrl": int.from_bytes(request_id[2:4], "big"),
    }
