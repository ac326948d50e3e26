"""Past authentication: every command of the dictionary, signed with a key in use and a fresh
sequence number, with arguments of every field type at and beyond their limits, alone and in
sequences. After each, the controller has answered it, still answers PING, sent nothing that
does not decode, met no internal error, and its counters add up (fuzz/commanding.py checks each
case; `make fuzz` runs the same driver for a million cases)."""

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight import dictionary as d
from flight.protocol.fields import MAX_TEXT_OCTETS, clip_text
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "fuzz"))
from commanding import ByteChoices, CommandingDriver  # noqa: E402

EXAMPLES = settings(
    max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False
)


class DrawChoices:
    """The driver's choices drawn by hypothesis (so that a failing case shrinks)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))

    def octets(self, max_len: int) -> bytes:
        return self.data.draw(st.binary(max_size=max_len))


@pytest.fixture(scope="module")
def driver():
    drv = CommandingDriver()
    for _ in range(3):
        drv.tick()
    yield drv
    drv.close()


@pytest.fixture
def fresh():
    drv = CommandingDriver()
    drv.tick()
    yield drv
    drv.close()


@pytest.mark.parametrize("name", [c.name for c in d.COMMANDS])
@EXAMPLES
@given(data=st.data())
def test_every_command_with_arguments_at_and_past_their_limits(driver, name, data):
    command = d.COMMANDS_BY_NAME[name]
    c = DrawChoices(data)
    driver.case(command, driver.arguments(c, command))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(min_size=1, max_size=400))
def test_sequences_of_commands_ticks_jobs_and_restarts(driver, data):
    driver.run(ByteChoices(data))


def test_jobs_in_every_state_are_commanded(fresh):
    """Hold, release, reprioritise, report and cancel on queued, running, held and ended jobs:
    each answered, none an internal error (the driver checks)."""
    states = {}
    for job_id in ("seq-run", "seq-held", "seq-done"):
        fresh.command(
            "SUBMIT_JOB", {"manifest": fresh.signed({"id": job_id, "simulated": {"work_s": 2}})}
        )
    fresh.command("HOLD_JOB", {"job_id": "seq-held"})
    for _ in range(8):
        fresh.tick()
    for job_id in ("seq-run", "seq-held", "seq-done", "never-submitted"):
        job = fresh.ctl.runner.jobs.get(job_id)
        states[job_id] = job.state.name if job else "UNKNOWN"
        for name, args in (
            ("REPORT_JOB", {}),
            ("HOLD_JOB", {}),
            ("RELEASE_JOB", {}),
            ("REPRIORITISE_JOB", {"priority": 255}),
            ("CANCEL_JOB", {}),
            ("CANCEL_JOB", {}),
        ):
            fresh.command(name, {"job_id": job_id} | args)
    assert "HELD" in states.values() and "UNKNOWN" in states.values()
    assert {"COMPLETED", "RUNNING", "QUEUED"} & set(states.values())


def test_key_commands_in_every_state(fresh):
    """Activate the spare, deactivate the first, try to deactivate the last, unknown keys, and
    back: the driver signs with whichever key is in use."""
    for name, key_id in (
        ("KEY_ACTIVATE", 257),
        ("KEY_ACTIVATE", 257),
        ("KEY_DEACTIVATE", 256),
        ("KEY_DEACTIVATE", 257),
        ("KEY_DEACTIVATE", 1),
        ("KEY_ACTIVATE", 65535),
        ("KEY_DEACTIVATE", 0),
        ("KEY_ACTIVATE", 256),
        ("KEY_DEACTIVATE", 257),
        ("REPORT_KEYS", None),
    ):
        fresh.command(name, None if key_id is None else {"key_id": key_id})
    assert fresh.ctl.auth.in_use(256) and not fresh.ctl.auth.in_use(257)


@pytest.mark.parametrize(
    "name",
    ["junk.tar", "empty.tar", "partial.tar", "sparse-bomb.tar", "links.tar", "deep-json.tar",
     "odd-manifest.tar", "signed.tar", "fifo", "directory", "escape", "missing.tar"],
)  # fmt: skip
def test_image_and_file_commands_on_hostile_files(fresh, name):
    for command, args in (
        ("IMAGE_INSTALL", {"file": name}),
        ("DOWNLINK_FILE", {"path": f"files/{name}", "priority": 0}),
        ("IMAGE_ACTIVATE", {"trial_s": 0, "health_s": 0}),
    ):
        fresh.command(command, args)
    for _ in range(3):
        fresh.tick()


@given(st.text(), st.integers(0, 300))
def test_clip_text_cuts_at_a_character_boundary(text, octets):
    clipped = clip_text(text, octets)
    raw = clipped.encode()
    assert len(raw) <= octets
    assert text.encode("utf-8", "replace").startswith(raw)
    if len(text.encode("utf-8", "replace")) <= octets:
        assert raw == text.encode("utf-8", "replace")
    else:
        assert len(raw) > octets - 4  # at most one character dropped


def test_reports_copy_over_long_multibyte_texts_cut_to_the_field():
    from flight.protocol.messages import encode_event, encode_telemetry

    reason = "é" * 200  # 400 octets
    _, data = encode_telemetry(
        "COMPLETION_FAILURE",
        {"request_packet_id": 1, "request_seq_ctrl": 2, "code": 8, "reason": reason},
    )
    assert data[6] == MAX_TEXT_OCTETS - 1  # 127 two-octet characters: 254 octets
    _, event = encode_event("STORE_ERROR", {"reason": "€" * 100})
    assert event[2] == 255  # 85 three-octet characters
