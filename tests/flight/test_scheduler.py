"""The scheduler's choice on constructed queues and bus states: the plain order (priority,
deadline, age, skipping a job that would miss its deadline), and with eclipse predictions, work
that fits before an eclipse the GPU cannot run through, a checkpointable job only with room for
a useful stretch and its checkpoint, and an idle GPU rather than work that would be cut off."""

from pathlib import Path

from flight.dictionary import NONE_AHEAD, JobState
from flight.governor import BusState
from flight.jobs.manifest import CheckpointPolicy, JobSpec
from flight.jobs.execution import SimulatedExecution
from flight.jobs.job import Job
from flight.jobs.store import JobRecord
from flight.scheduler import FIT_MARGIN_S, MIN_USEFUL_S, Scheduler, remaining_s

NOW = 1_767_225_600.0
LEAD = 5.0


def job(name: str, runtime: float, deadline: float | None = None, checkpoint=None, done=0.0):
    spec = JobSpec(
        job_id=name,
        executable=None,
        simulated_work_s=runtime,
        expected_runtime_s=runtime,
        deadline=deadline,
        checkpoint=checkpoint,
    )
    rec = JobRecord(name, 1, {}, JobState.QUEUED, 100, NOW, checkpoint_work=done * runtime)
    return Job(rec, spec, Path("/nonexistent"), SimulatedExecution())


def sun(eclipse_in_s: int = NONE_AHEAD, eclipse_s: int = 2100) -> BusState:
    return BusState(500.0, -60.0, True, eclipse_in_s, eclipse_s)


def test_remaining_time_counts_what_a_checkpoint_holds():
    assert remaining_s(job("a", 1000)) == 1000
    assert remaining_s(job("a", 1000, done=0.25)) == 750


def test_without_predictions_the_plain_order_skipping_a_missed_deadline():
    plain = Scheduler(eclipse_predictions=False, checkpoint_lead_s=LEAD)
    late = job("late", 1000, deadline=NOW + 500)
    fine = job("fine", 1000, deadline=NOW + 5000)
    assert plain.choose([late, fine], NOW, sun(600), True) is fine
    assert plain.choose([late], NOW, sun(600), True) is late  # better late than idle
    long = job("long", 3600)
    assert plain.choose([long, job("short", 60)], NOW, sun(600), True) is long
    assert plain.choose([], NOW, sun(600), True) is None


def test_with_predictions_work_that_fits_before_the_eclipse_goes_first():
    s = Scheduler(eclipse_predictions=True, checkpoint_lead_s=LEAD)
    long, short = job("long", 3600), job("short", 300)
    assert s.choose([long, short], NOW, sun(600), True) is short
    edge = job("edge", 600 - FIT_MARGIN_S)
    assert s.choose([long, edge], NOW, sun(600), True) is edge
    over = job("over", 600 - FIT_MARGIN_S + 1)
    assert s.choose([long, over], NOW, sun(600), True) is None  # nothing useful: GPU idle


def test_a_fitting_job_that_would_miss_its_deadline_gives_way():
    s = Scheduler(eclipse_predictions=True, checkpoint_lead_s=LEAD)
    doomed = job("doomed", 300, deadline=NOW + 100)
    ok = job("ok", 300)
    assert s.choose([doomed, ok], NOW, sun(600), True) is ok
    assert s.choose([doomed], NOW, sun(600), True) is doomed  # fits: run it anyway


def test_a_checkpointable_job_starts_only_with_room_for_a_stretch_and_its_checkpoint():
    s = Scheduler(eclipse_predictions=True, checkpoint_lead_s=LEAD)
    policy = CheckpointPolicy(interval_s=600, cost_s=30)
    need = 30 + LEAD + MIN_USEFUL_S + FIT_MARGIN_S  # the eclipse this far ahead, at least
    big = job("big", 7200, checkpoint=policy)
    assert s.choose([big], NOW, sun(int(need)), True) is big
    assert s.choose([big], NOW, sun(int(need) - 1), True) is None
    # its deadline has to hold with the eclipse's length added
    tight = job("tight", 7200, deadline=NOW + 7200 + 1000, checkpoint=policy)
    assert s.choose([tight], NOW, sun(1000, eclipse_s=2100), True) is None
    assert s.choose([tight], NOW, sun(1000, eclipse_s=900), True) is tight


def test_predictions_change_nothing_when_the_gpu_runs_through_the_eclipse_or_in_shade():
    s = Scheduler(eclipse_predictions=True, checkpoint_lead_s=LEAD)
    long, short = job("long", 3600), job("short", 300)
    assert s.choose([long, short], NOW, sun(600), eclipse_stops_gpu=False) is long
    assert s.choose([long, short], NOW, sun(NONE_AHEAD), True) is long
    shade = BusState(500.0, -60.0, False, 0, 900)
    assert s.choose([long, short], NOW, shade, True) is long
