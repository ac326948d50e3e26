"""Each part of the controller built alone, without a controller or a link: admission, dispatch
with its acceptance apart from execution, the job queue with a simulated execution, and the
on-board clock. What they send is read back from a byte sink."""

from __future__ import annotations

from typing import Any

import pytest

from flight import dictionary as d
from flight.commanding.admission import Admission
from flight.commanding.counters import Counters
from flight.commanding.dispatch import CommandError, Dispatcher, Handler
from flight.commanding.verification import Verification
from flight.jobs.execution import SimulatedExecution
from flight.jobs.job import JobRejected
from flight.jobs.manifest import parse_manifest
from flight.jobs.queue import JobQueue
from flight.onboard_clock import OnboardClock
from flight.protocol.framing import Deframer, frame
from flight.protocol.messages import encode_command, decode_telemetry
from flight.protocol.packets import build_tc, parse_packet
from flight.reports import Reports
from flight.security.replay import SecurityState
from flight.security.tc_auth import TcVerifier
from flight.telemetry import TelemetryWriter
from tests.flight.conftest import TEST_KEYS, signer


class Sink:
    """Collects what the telemetry writer sends."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def telemetry(self) -> list[Any]:
        return [decode_telemetry(parse_packet(f)) for f in Deframer().feed(self.data) if f]


def parts(tmp_path, handlers):
    sink, counters, clock = Sink(), Counters(), OnboardClock(time=100.0, synced=True)
    reports = Reports(TelemetryWriter(sink), clock)
    verification = Verification(reports, counters)
    auth = TcVerifier(TEST_KEYS, SecurityState(tmp_path / "security.state"))
    admission = Admission(auth, counters, verification, reports)
    return sink, counters, admission, Dispatcher(handlers, verification, counters)


def every_command(**chosen: Handler) -> dict[str, Handler]:
    return {name: chosen.get(name, Handler(lambda tc, args: None)) for name in d.COMMANDS_BY_NAME}


def signed(name: str, seq: int) -> bytes:
    """The command ``name`` from the ground, signed, asking for acceptance and completion."""
    command, data = encode_command(name)
    packet = build_tc(
        d.APID_PAYLOAD,
        seq,
        command.service,
        command.subtype,
        data,
        source_id=d.SOURCE_GROUND,
        ack_flags=d.ACK_ACCEPTANCE | d.ACK_COMPLETION,
    )
    return signer(d.SOURCE_GROUND).sign(packet)


def ping(seq: int = 0, corrupt: bool = False) -> bytes:
    signed_ping = bytearray(signed("PING", seq))
    if corrupt:
        signed_ping[-1] ^= 0xFF
    return bytes(signed_ping)


def test_a_dispatcher_needs_exactly_one_handler_per_declared_command():
    handlers = every_command()
    del handlers["PING"]
    with pytest.raises(ValueError, match="PING"):
        Dispatcher(handlers, None, Counters())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NOT_DECLARED"):
        Dispatcher(every_command() | {"NOT_DECLARED": Handler(print)}, None, Counters())  # type: ignore[arg-type]


def test_admission_counts_and_answers_a_bad_crc_and_passes_a_good_one(tmp_path):
    sink, counters, admission, dispatcher = parts(tmp_path, every_command())
    admitted = [admission.admit(raw) for raw in admission.frames(frame(ping(corrupt=True)))]
    assert admitted == [None] and counters.packets_bad_crc == 1 and admission.frames_rx == 1
    [failure] = sink.telemetry()
    assert failure.name == "ACCEPTANCE_FAILURE"
    assert failure.values["code"] == d.FailureCode.BAD_CHECKSUM
    [tc] = [admission.admit(raw) for raw in admission.frames(frame(ping(1)))]
    assert tc is not None and (tc.service, tc.subtype) == (17, 1)


def test_a_refused_acceptance_changes_nothing_and_a_failed_execution_is_reported(tmp_path):
    ran: list[str] = []

    def refuse(args: dict[str, Any]) -> Any:
        raise CommandError(d.FailureCode.JOB_UNKNOWN, "refused at acceptance")

    def fail(tc: Any, args: Any) -> None:
        ran.append("NOOP")
        raise CommandError(d.FailureCode.STORE_FAILURE, "failed in execution")

    handlers = every_command(
        PING=Handler(lambda tc, args: ran.append("PING"), refuse), NOOP=Handler(fail)
    )
    sink, counters, admission, dispatcher = parts(tmp_path, handlers)
    for seq, name in enumerate(("PING", "NOOP")):
        [tc] = [admission.admit(f) for f in admission.frames(frame(signed(name, seq)))]
        dispatcher.execute(tc)
    assert ran == ["NOOP"]
    names = [(t.name, t.values.get("code")) for t in sink.telemetry()]
    assert names == [
        ("ACCEPTANCE_FAILURE", d.FailureCode.JOB_UNKNOWN),
        ("ACCEPTANCE_SUCCESS", None),
        ("COMPLETION_FAILURE", d.FailureCode.STORE_FAILURE),
    ]
    assert (counters.tc_rejected, counters.tc_accepted, counters.tc_failed) == (1, 1, 1)


def test_the_job_queue_admits_and_refuses_on_its_own(tmp_path):
    queue = JobQueue(tmp_path, lambda spec: SimulatedExecution(), max_queue=1)
    manifest = {"id": "a", "simulated": {"work_s": 10}}
    job = queue.submit(parse_manifest(manifest), manifest, 0.0, 80_000)
    assert job.results() == [] and queue.queued == 1 and queue.waiting() == [job]
    with pytest.raises(JobRejected) as refused:
        queue.submit(parse_manifest({"id": "b", "simulated": {"work_s": 10}}), {}, 0.0, 80_000)
    assert refused.value.code is d.FailureCode.QUEUE_FULL
    queue.hold("a")
    assert queue.held == 1 and queue.waiting() == []
    queue.close()
    again = JobQueue(tmp_path, lambda spec: SimulatedExecution())
    assert again.jobs["a"].state is d.JobState.HELD  # on disk before it was reported


def test_the_clock_synchronises_once_and_reports_a_jump():
    clock = OnboardClock()
    assert clock.synchronise(clock.set(1000.0)) == [("TIME_SYNCHRONISED", {"time": 1000.0})]
    assert clock.synchronise(clock.set(1001.0)) == []
    [(name, values)] = clock.synchronise(clock.set(1005.0))
    assert name == "TIME_JUMP" and values == {"expected": 1002.0, "received": 1005.0}
    assert (clock.ticks, clock.uptime_s) == (3, 5)
