"""Each job's result latency to the ground: from its JOB_COMPLETED on board to that event
reaching the station's client, once per job however often it is played back."""

from flight import dictionary as d
from flight.protocol.messages import decode_telemetry, encode_event
from flight.protocol.packets import build_tm, parse_packet
from hil.ground_figures import GroundTrack


def _completed(job: str, at: float):
    kind, data = encode_event("JOB_COMPLETED", {"job_id": job, "runtime_s": 10.0})
    raw = build_tm(d.APID_PAYLOAD, 0, kind.service, kind.subtype, data, msg_counter=0,
                   dest_id=d.SOURCE_GROUND, time=at, time_synced=True)  # fmt: skip
    return decode_telemetry(parse_packet(raw))


def test_each_results_latency_is_counted_once_from_its_completion():
    now = [0.0]
    track = GroundTrack(lambda: now[0])
    assert track.result_figures() == {
        "ground_results_seen": 0,
        "ground_result_latency_median_s": None,
        "ground_result_latency_max_s": None,
    }
    for job, done, heard in (("a", 100.0, 101.0), ("b", 200.0, 1400.0), ("c", 300.0, 330.0)):
        now[0] = heard
        track.update(_completed(job, done))
    now[0] = 5000.0
    track.update(_completed("b", 200.0))  # played back again after a later pass
    assert track.results == {"a": (100.0, 1.0), "b": (200.0, 1200.0), "c": (300.0, 30.0)}
    assert track.result_figures() == {
        "ground_results_seen": 3,
        "ground_result_latency_median_s": 30.0,
        "ground_result_latency_max_s": 1200.0,
    }


def test_a_result_is_timed_at_the_bus_second_that_passed_on_the_copy_heard():
    """The client's socket may be read after the lockstep clock moved on: the latency is from
    the bus second in which the bus passed the event on, live or in a later pass's playback."""
    now = [100.0]
    track = GroundTrack(lambda: now[0])
    track.passed_on(_completed("live", 100.0))  # relayed in the second it happened
    track.passed_on(_completed("stored", 90.0))  # recorded out of contact ...
    now[0] = 700.0
    track.passed_on(_completed("stored", 90.0))  # ... and played back in the next pass
    now[0] = 701.0  # the client reads both after the clock advanced
    track.update(_completed("live", 100.0))
    track.update(_completed("stored", 90.0))
    assert track.results == {"live": (100.0, 0.0), "stored": (90.0, 610.0)}
