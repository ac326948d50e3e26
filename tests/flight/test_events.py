"""Typed events and their throttle: every declared event has a constructor that checks its
arguments when the event is made; a throttled event is sent once, its repeats counted (in bus
ticks, whatever the clock does) and summed up in one EVENT_REPEATED when it stops, at most once a
throttle while it goes on, and at a stop."""

from __future__ import annotations

import pytest

from flight import dictionary as d
from flight.event_throttle import EventThrottle, declared_throttles
from flight.events import EV, Event, EventError
from flight.protocol.fields import MAX_TEXT_OCTETS
from flight.protocol.messages import encode_event


def test_every_declared_event_has_a_constructor_that_encodes():
    for event in d.EVENTS:
        values = {f.name: "x" if f.type == "str" else 0 for f in event.args}
        made = getattr(EV, event.name)(**values)
        assert made == (event.name, made.values) and isinstance(made, Event)
        encode_event(*made)  # what the constructor accepts, the encoder takes


def test_an_event_made_wrong_is_refused_where_it_is_made():
    with pytest.raises(EventError, match=r"JOB_QUEUED: given \['job'\], declared \['job_id'\]"):
        EV.JOB_QUEUED(job="x")
    with pytest.raises(EventError, match="JOB_STARTED: given"):
        EV.JOB_STARTED(job_id="x")  # pid missing
    with pytest.raises(EventError, match="pid: -1 outside"):
        EV.JOB_STARTED(job_id="x", pid=-1)
    with pytest.raises(EventError, match="mode: 9 is not one of"):
        EV.GOVERNOR_MODE(mode=9, reason="")
    with pytest.raises(AttributeError, match="no event 'NO_SUCH_EVENT'"):
        EV.NO_SUCH_EVENT()


def test_texts_are_cut_to_their_field_when_the_event_is_made():
    made = EV.STORE_ERROR(reason="é" * MAX_TEXT_OCTETS)
    assert len(made.values["reason"].encode()) <= MAX_TEXT_OCTETS


def test_the_throttles_are_the_dictionarys():
    assert declared_throttles() == {
        "STORE_ERROR": 60,
        "GPU_ERROR": 60,
        "GPU_XID": 60,
        "GPU_THROTTLED": 60,
    }


def store_error(reason: str = "disk full") -> Event:
    return EV.STORE_ERROR(reason=reason)


def test_a_repeating_event_is_sent_once_and_summed_up_when_it_stops():
    throttle = EventThrottle({"STORE_ERROR": 10})
    sent = [throttle.admit(store_error(f"try {t}"), t, 1000.0 + t) for t in range(5)]
    assert sent == [True, False, False, False, False] and throttle.suppressed == 4
    assert all(throttle.due(t) == [] for t in range(5, 10))
    [summary] = throttle.due(10)  # a throttle after it was sent
    assert summary == EV.EVENT_REPEATED(
        event="STORE_ERROR", repeats=4, first=1001.0, last=1004.0, latest="reason='try 4'"
    )
    assert throttle.due(14) == []  # 10 ticks without it: the window closes, nothing to say
    assert throttle.admit(store_error(), 15, 1015.0)  # a new window: sent again


def test_an_event_that_goes_on_is_summed_up_once_a_throttle_and_others_are_untouched():
    throttle = EventThrottle({"STORE_ERROR": 10})
    summaries = []
    for t in range(35):
        throttle.admit(store_error(), t, float(t))
        assert throttle.admit(EV.JOB_QUEUED(job_id=f"j{t}"), t, float(t))  # not throttled
        summaries += throttle.due(t)
    assert [(s.values["repeats"], s.values["first"], s.values["last"]) for s in summaries] == [
        (10, 1.0, 10.0),
        (10, 11.0, 20.0),
        (10, 21.0, 30.0),
    ]
    [last] = throttle.pending()  # a stop: what is counted goes down
    assert last.values["repeats"] == 4 and throttle.pending() == []


def test_a_clock_that_jumps_neither_opens_nor_closes_a_window():
    throttle = EventThrottle({"GPU_XID": 60})
    assert throttle.admit(EV.GPU_XID(xid=48), 1, 5000.0)
    assert not throttle.admit(EV.GPU_XID(xid=48), 2, 1400.0)  # the clock stepped back an hour
    assert throttle.due(3) == []
    [summary] = throttle.due(62)
    assert (summary.values["first"], summary.values["last"]) == (1400.0, 1400.0)
