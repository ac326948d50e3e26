"""No byte sequence on the bus link crashes or stalls the controller, and it loses nothing after."""

import os
import select
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.protocol.framing import Deframer, frame
from flight.protocol.messages import decode_telemetry
from flight.protocol.packets import PacketError, parse_packet
from hil.serial_link import PtyLink
from tests.flight.conftest import controller_process


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    noise=st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.binary(max_size=300).map(lambda b: frame(b)),
            st.sampled_from([b"\x00", b"\x00\x00", b"\xff" * 20]),
        ),
        max_size=8,
    )
)
def test_any_bytes_then_a_ping_is_still_answered(payload, noise):
    for chunk in noise:
        payload.ctl.receive(chunk)
    payload.telemetry()
    payload.ctl.receive(b"\x00")  # a delimiter ends whatever the noise left open
    tms = payload.command("PING")
    assert "PING_REPORT" in [t.name for t in tms]


def test_oversized_frame_is_discarded_and_counted(payload):
    payload.send_bytes(b"\x01" * 10_000 + b"\x00")
    assert payload.ctl.admission.deframer.frames_bad == 1
    assert [t.name for t in payload.command("PING", ack=0)] == ["PING_REPORT"]


def test_frames_split_across_reads(payload):
    raw = b"".join(frame(payload.tc("PING", ack=0)) for _ in range(3))
    for i in range(0, len(raw), 5):
        payload.send_bytes(raw[i : i + 5])
    assert [t.name for t in payload.telemetry()] == ["PING_REPORT"] * 3


def test_a_frame_cut_short_by_the_run_before_does_not_take_the_first_frame_of_the_next(tmp_path):
    """A run killed, reset or powered off mid-frame leaves a partial frame at the receiver; the
    next run's lone delimiter at start ends it, so its first frame (SEQUENCE_FLOOR, or here
    CONTROLLER_STARTED) arrives whole. Real process, real pty."""
    link = PtyLink.open()
    (tmp_path / "state").mkdir()
    deframer = Deframer()
    assert deframer.feed(frame(b"\x07\xff" + bytes(40))[:20]) == []  # the run before, cut short
    controller = controller_process(link.slave_path, tmp_path / "state")
    try:
        names, damaged = [], 0
        deadline = time.monotonic() + 60
        while not names and time.monotonic() < deadline:
            ready, _, _ = select.select([link.master_fd], [], [], 1.0)
            for raw in deframer.feed(os.read(link.master_fd, 4096)) if ready else []:
                try:
                    names.append(decode_telemetry(parse_packet(raw)).name)
                except PacketError:
                    damaged += 1
        assert names, "nothing from the controller within 60 s"
        assert names[0] == "CONTROLLER_STARTED"
        assert damaged + deframer.frames_bad == 1  # the partial frame, ended and refused
    finally:
        controller.kill()
        controller.wait()
        link.close()
