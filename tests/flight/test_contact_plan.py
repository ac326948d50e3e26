"""The contact plan and contact-graph routing: the soonest way to the ground over laser links
and passes, checked against every path of a small plan, and any bytes as a plan refused in
one line or taken."""

import itertools
import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.relay.contact_plan import Contact, ContactPlan, PlanError

GROUND = 2


def _plan(*contacts):
    return ContactPlan([Contact(*c) for c in contacts])


def test_a_file_goes_by_the_neighbour_whose_pass_comes_first():
    plan = _plan(
        (161, GROUND, 10_000, 10_600, 1e6, 0.005),  # its own pass, hours away
        (161, 162, 100, 700, 1e8, 0.01),  # a laser link now
        (162, GROUND, 1_000, 1_600, 1e6, 0.005),  # the neighbour's pass, sooner
    )
    route = plan.route(161, GROUND, 0.0, 1_000_000)
    assert (route.next_hop, route.contact.b, route.hops) == (162, 162, 2)
    assert route.arrival == pytest.approx(1_000 + 8.0 + 0.005)
    direct = plan.route(161, GROUND, 0.0, 1_000_000, avoid=frozenset({162}))
    assert (direct.next_hop, direct.arrival) == (GROUND, pytest.approx(10_008.005))
    # too large for what is left of the laser link: it waits for its own pass
    late = plan.route(161, GROUND, 650.0, 1_000_000_000)
    assert late is None or late.next_hop == GROUND
    assert plan.up(161, 162, 100) and not plan.up(162, 161, 700) and not plan.up(161, 163, 200)
    assert plan.route(161, 163, 0.0, 10) is None


def _by_paths(contacts, source, dest, now, octets):
    """The earliest arrival over every sequence of up to four contacts: a file crosses each as
    soon as it is there and the contact has started, if it fits before the contact ends."""
    best = math.inf
    for n in range(1, 5):
        for path in itertools.permutations(contacts, n):
            node, t = source, now
            for c in path:
                if node not in (c.a, c.b) or c.end <= t:
                    break
                sent = max(t, c.start) + octets * 8.0 / c.rate_bps
                if sent > c.end:
                    break
                node, t = c.other(node), sent + c.owlt_s
            else:
                if node == dest:
                    best = min(best, t)
    return best


contact = st.builds(
    lambda pair, start, length, rate, owlt: Contact(*pair, start, start + length, rate, owlt),
    st.lists(st.sampled_from([GROUND, 161, 162, 163]), min_size=2, max_size=2, unique=True),
    st.integers(0, 3000),
    st.integers(1, 1500),
    st.sampled_from([1e3, 1e5, 1e7]),
    st.sampled_from([0.0, 0.01, 1.0]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(contact, max_size=6), st.integers(0, 2000), st.sampled_from([10, 10_000, 1e6]))
def test_the_route_is_the_earliest_arrival_over_every_path(contacts, now, octets):
    plan = ContactPlan(contacts)
    route = plan.route(161, GROUND, float(now), int(octets))
    best = _by_paths(contacts, 161, GROUND, float(now), int(octets))
    if route is None:
        assert best == math.inf
    else:
        assert route.arrival == pytest.approx(best)
        assert route.contact.other(161) == route.next_hop


def test_a_plan_round_trips_and_each_fault_is_named_in_one_line():
    good = {"contacts": [{"between": [161, 2], "start": 0, "end": 600.5, "rate_bps": 1e6,
                          "owlt_s": 0.004}]}  # fmt: skip
    plan = ContactPlan.parse(json.dumps(good).encode())
    assert plan.contacts == [Contact(161, 2, 0.0, 600.5, 1e6, 0.004)]
    for doc, fault in (
        (b"\xff", "not JSON"),
        (b"[]", "'contacts' must be a list"),
        (
            {
                "contacts": [
                    {"between": [161, 161], "start": 0, "end": 1, "rate_bps": 1, "owlt_s": 0}
                ]
            },
            "contacts[0].between",
        ),  # fmt: skip
        (
            {"contacts": [{"between": [1, 2], "start": 5, "end": 5, "rate_bps": 1, "owlt_s": 0}]},
            "contacts[0]: ends at or before it starts",
        ),  # fmt: skip
        (
            {"contacts": [{"between": [1, 2], "start": 0, "end": 5, "rate_bps": 0, "owlt_s": 0}]},
            "contacts[0].rate_bps",
        ),  # fmt: skip
        (
            {"contacts": [{"between": [1, 2], "start": 0, "end": 5, "rate_bps": 1, "owlt_s": 99}]},
            "contacts[0].owlt_s",
        ),  # fmt: skip
        (
            {"contacts": [{"between": [1, 2], "start": "0", "end": 5, "rate_bps": 1, "owlt_s": 0}]},
            "contacts[0].start: a finite number",
        ),  # fmt: skip
        ({"contacts": [{"between": [1, 2]}]}, "contacts[0]: a map of exactly"),
    ):
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        with pytest.raises(PlanError, match=re.escape(fault)) as refused:
            ContactPlan.parse(data)
        assert "\n" not in str(refused.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["contacts", "between", "start", "end", "rate_bps", "owlt_s"]),
        inner, max_size=6),
    max_leaves=20,
).map(lambda doc: json.dumps({"contacts": [doc]}).encode()))  # fmt: skip
def test_any_bytes_are_a_plan_or_one_line(data):
    try:
        plan = ContactPlan.parse(data)
    except PlanError as exc:
        assert "\n" not in str(exc)
    else:
        plan.route(161, GROUND, 0.0, 100)
