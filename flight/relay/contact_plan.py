"""The contact plan and contact-graph routing (docs/constellation.md): when each laser link and
each ground pass will be up, as operations predict them from the orbits, and, from it, the next
hop that brings a file to its destination soonest.

A plan is JSON: ``{"contacts": [{"between": [A, B], "start": T, "end": T, "rate_bps": R,
"owlt_s": D}, ...]}``, A and B CFDP entity ids (a satellite's, or the ground's), times in
mission seconds, a contact usable both ways. The route is the earliest arrival over the contact
graph, as CGR computes it for DTN: a file waits at a node for a contact's start, takes its size
over the contact's rate to cross (it must fit before the contact ends), and arrives the light
time later.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

MAX_PLAN_OCTETS = 4 << 20
MAX_CONTACTS = 100_000
MAX_ENTITY = 0xFFFF
MAX_OWLT_S = 60.0


class PlanError(ValueError):
    """A contact plan refused, in one line."""


@dataclass(frozen=True)
class Contact:
    a: int
    b: int
    start: float
    end: float
    rate_bps: float
    owlt_s: float

    def other(self, node: int) -> int:
        return self.b if node == self.a else self.a


@dataclass(frozen=True)
class Route:
    """The first hop of the soonest way to a destination, and when the file arrives there."""

    next_hop: int
    contact: Contact
    arrival: float
    hops: int


class ContactPlan:
    def __init__(self, contacts: list[Contact]) -> None:
        self.contacts = contacts
        self._edges = sorted({e for c in contacts for e in (c.start, c.end)})
        self._by_node: dict[int, list[Contact]] = {}
        for c in contacts:
            self._by_node.setdefault(c.a, []).append(c)
            self._by_node.setdefault(c.b, []).append(c)

    @classmethod
    def parse(cls, data: bytes) -> ContactPlan:
        """A plan from its JSON; PlanError naming the first fault."""
        if len(data) > MAX_PLAN_OCTETS:
            raise PlanError(f"contact plan: {len(data)} octets, more than {MAX_PLAN_OCTETS}")
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise PlanError(f"contact plan: not JSON ({exc})") from None
        items = doc.get("contacts") if isinstance(doc, dict) else None
        if not isinstance(items, list) or len(items) > MAX_CONTACTS:
            raise PlanError(f"contact plan: 'contacts' must be a list of at most {MAX_CONTACTS}")
        return cls([_contact(i, item) for i, item in enumerate(items)])

    def next_change(self, t: float) -> float:
        """The first moment after ``t`` a contact begins or ends (inf: none does)."""
        i = bisect.bisect_right(self._edges, t)
        return self._edges[i] if i < len(self._edges) else math.inf

    def contacts_of(self, node: int) -> list[Contact]:
        return self._by_node.get(node, [])

    def up(self, a: int, b: int, t: float) -> bool:
        """Whether a contact between ``a`` and ``b`` is planned at ``t``."""
        return any(c.other(a) == b and c.start <= t < c.end for c in self._by_node.get(a, ()))

    def route(
        self,
        source: int,
        dest: int,
        now: float,
        octets: int,
        avoid: frozenset[int] = frozenset(),
        backlog: Mapping[int, int] | None = None,
        not_through: frozenset[int] = frozenset(),
    ) -> Route | None:
        """The soonest way for ``octets`` from ``source`` to ``dest`` from ``now``, its first
        hop none of ``avoid``, behind the octets ``source`` has queued for each first hop
        (``backlog``, as CGR counts the backlog on an outduct), passing through none of
        ``not_through`` (nodes that pass nothing on, such as the ground); None when the plan
        has none."""
        queued = backlog or {}
        best = {source: now}
        pushed = itertools.count()  # ties go to fewer hops, then the first found
        queue: list[tuple[float, int, int, int, int, Contact | None]] = [
            (now, 0, next(pushed), source, 0, None)
        ]
        seen: set[int] = set()
        while queue:
            t, hops, _, node, first, contact = heapq.heappop(queue)
            if node in seen:
                continue
            seen.add(node)
            if node == dest and contact is not None:
                return Route(first, contact, t, hops)
            if node in not_through:
                continue
            for c in self._by_node.get(node, ()):
                nxt = c.other(node)
                if nxt in seen or (node == source and nxt in avoid) or c.end <= t:
                    continue
                ahead = queued.get(nxt, 0) if node == source else 0
                sent = max(t, c.start) + (ahead + octets) * 8.0 / c.rate_bps
                if sent > c.end:
                    continue  # it does not fit in what is left of the contact
                arrival = sent + c.owlt_s
                if arrival < best.get(nxt, math.inf):
                    best[nxt] = arrival
                    hop = (nxt, c) if node == source else (first, contact)
                    heapq.heappush(queue, (arrival, hops + 1, next(pushed), nxt, *hop))
        return None


def _contact(i: int, item: object) -> Contact:
    where = f"contact plan: contacts[{i}]"
    keys = {"between", "start", "end", "rate_bps", "owlt_s"}
    if not isinstance(item, dict) or set(item) != keys:
        raise PlanError(f"{where}: a map of exactly {', '.join(sorted(keys))}")
    pair = item["between"]
    if (
        not isinstance(pair, list)
        or len(pair) != 2
        or not all(type(e) is int and 0 <= e <= MAX_ENTITY for e in pair)
        or pair[0] == pair[1]
    ):
        raise PlanError(f"{where}.between: two different entity ids (0 to {MAX_ENTITY})")
    numbers = {}
    for key in ("start", "end", "rate_bps", "owlt_s"):
        value = item[key]
        if type(value) not in (int, float) or not math.isfinite(value):
            raise PlanError(f"{where}.{key}: a finite number, not {value!r}")
        numbers[key] = float(value)
    if numbers["end"] <= numbers["start"]:
        raise PlanError(f"{where}: ends at or before it starts")
    if numbers["rate_bps"] <= 0:
        raise PlanError(f"{where}.rate_bps: above zero")
    if not 0 <= numbers["owlt_s"] <= MAX_OWLT_S:
        raise PlanError(f"{where}.owlt_s: 0 to {MAX_OWLT_S} s")
    return Contact(pair[0], pair[1], **numbers)
