"""NAKs repeated before the repairs arrive (a NAK timeout shorter than the round trip, as on a slow
link with a long delay): the sender queues each range once, whatever the receiver asks again, so
the repeats never hold the repairs back (the NAK limit the bench's passes scenario once met)."""

from __future__ import annotations

from collections import deque

from hypothesis import given
from hypothesis import strategies as st

from flight.cfdp.sender import not_pending

ranges = st.tuples(st.integers(0, 500), st.integers(1, 100)).map(lambda r: (r[0], r[0] + r[1]))


@given(st.lists(ranges, max_size=12), ranges)
def test_only_what_is_not_already_waiting_is_queued(asked_before, asked):
    pending: deque[tuple[int, int]] = deque()
    for start, end in asked_before:  # pending stays free of overlaps, as the sender keeps it
        pending.extend(not_pending(pending, start, end))
    octets = [o for s, e in pending for o in range(s, e)]
    assert len(octets) == len(set(octets))
    added = not_pending(pending, *asked)
    new = {o for s, e in added for o in range(s, e)}
    assert all(s < e for s, e in added)
    assert new == set(range(*asked)) - set(octets)  # all of it that was missing, nothing else
    assert sum(e - s for s, e in added) == len(new)  # each octet once
    assert not_pending(deque([*pending, *added]), *asked) == []  # asked again: nothing more
