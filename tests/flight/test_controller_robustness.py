"""No byte sequence on the bus link crashes or stalls the controller, and it loses nothing after."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.protocol.framing import frame


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
    assert payload.ctl.deframer.frames_bad == 1
    assert [t.name for t in payload.command("PING", ack=0)] == ["PING_REPORT"]


def test_frames_split_across_reads(payload):
    raw = b"".join(frame(payload.tc("PING", ack=0)) for _ in range(3))
    for i in range(0, len(raw), 5):
        payload.send_bytes(raw[i : i + 5])
    assert [t.name for t in payload.telemetry()] == ["PING_REPORT"] * 3
