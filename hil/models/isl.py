"""Inter-satellite laser links from the orbit geometry: which pairs of satellites can link each
second, which links the terminals hold, and every change of the topology.

Two satellites can link while the straight line between them clears the Earth's limb by the
atmosphere's height (``grazing_km``) and is no longer than ``max_range_km``. Each satellite has
``terminals`` laser terminals. A pair that can link is given a terminal at each end when both
have one free, nearest pairs first; its terminals then point and acquire for ``acquisition_s``
before the link carries anything, and it holds them until the geometry breaks it. The one-way
delay is the range over the speed of light.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from hil.models.orbit import EARTH_RADIUS_KM, windows

LIGHT_KM_S = 299_792.458


@dataclass(frozen=True)
class Flap:
    """A laser link that the geometry allows but that comes and goes, ``every_s`` seconds up
    then as long down, for ``duration_s`` from second ``start_s`` (a terminal losing its lock):
    not in the contact plan, which predicts from the geometry."""

    a: str
    b: str
    start_s: int
    duration_s: int
    every_s: int


@dataclass(frozen=True)
class IslConfig:
    """The laser terminals of every satellite of a constellation."""

    max_range_km: float = 5_000.0
    grazing_km: float = 80.0
    acquisition_s: int = 20
    terminals: int = 4
    rate_bps: float = 2.5e9  # the terminals' real rate
    carried_bps: float = 8e6  # what the bench carries of it per bus second (hil/isl_relay.py)
    loss: float = 0.0  # the share of datagrams lost on the way
    flaps: tuple[Flap, ...] = ()


@dataclass(frozen=True)
class LinkChange:
    """A link came up (acquired) or went down (the geometry broke it) at second ``t_s``."""

    t_s: int
    up: bool
    a: str
    b: str
    range_km: float


@dataclass
class Topology:
    """The links of a run: each pair's up intervals (seconds from the start, end exclusive)."""

    names: list[str]
    positions: list[np.ndarray]  # per satellite (N, 3), km, one row per second
    intervals: dict[tuple[int, int], list[tuple[int, int]]] = field(default_factory=dict)
    changes: list[LinkChange] = field(default_factory=list)

    def up(self, i: int, j: int, second: int) -> bool:
        """Whether satellites i and j have a link at ``second``."""
        key = (min(i, j), max(i, j))
        return any(s <= second < e for s, e in self.intervals.get(key, ()))

    def neighbours(self, i: int, second: int) -> list[int]:
        """The satellites i has a link to at ``second``."""
        return [j for j in range(len(self.names)) if j != i and self.up(i, j, second)]

    def range_km(self, i: int, j: int, second: int) -> float:
        """The distance between satellites i and j at ``second``."""
        return float(np.linalg.norm(self.positions[i][second] - self.positions[j][second]))

    def delay_s(self, i: int, j: int, second: int) -> float:
        """One-way light time between satellites i and j at ``second``."""
        return self.range_km(i, j, second) / LIGHT_KM_S

    def link_counts(self) -> np.ndarray:
        """The number of links up each second."""
        seconds = len(self.positions[0]) if self.positions else 0
        counts = np.zeros(seconds, dtype=np.int64)
        for spans in self.intervals.values():
            for s, e in spans:
                counts[s:e] += 1
        return counts


def line_of_sight(p: np.ndarray, q: np.ndarray, grazing_km: float) -> np.ndarray:
    """Per row: whether the segment from p to q keeps ``grazing_km`` above the Earth's surface."""
    d = q - p
    s = np.clip(-np.einsum("ij,ij->i", p, d) / np.maximum(np.einsum("ij,ij->i", d, d), 1e-9), 0, 1)
    closest = p + s[:, None] * d
    return np.linalg.norm(closest, axis=1) >= EARTH_RADIUS_KM + grazing_km


def compute_topology(names: list[str], positions: list[np.ndarray], config: IslConfig) -> Topology:
    """The links the terminals hold over the run, and every change (see the module's doc)."""
    n = len(names)
    seconds = len(positions[0]) if positions else 0
    events: dict[int, list[tuple[bool, tuple[int, int]]]] = {}
    for i in range(n):
        for j in range(i + 1, n):
            p, q = positions[i], positions[j]
            mask = line_of_sight(p, q, config.grazing_km)
            mask &= np.linalg.norm(q - p, axis=1) <= config.max_range_km
            for s, e in windows(mask):
                events.setdefault(s, []).append((True, (i, j)))
                events.setdefault(e, []).append((False, (i, j)))
    topology = Topology(names, positions)
    feasible: set[tuple[int, int]] = set()
    held: dict[tuple[int, int], int] = {}  # pair -> second it acquires (or acquired)
    free = [config.terminals] * n
    pending: list[tuple[int, tuple[int, int]]] = []  # (acquired at, pair)
    times = sorted(events)  # a sorted list is a heap
    while times or pending:
        t = min(times[0] if times else seconds, pending[0][0] if pending else seconds)
        if t >= seconds:
            break
        while times and times[0] == t:
            heapq.heappop(times)
        for up, pair in events.get(t, ()):
            if up:
                feasible.add(pair)
                continue
            feasible.discard(pair)
            if pair in held:
                if held.pop(pair) < t:  # it had acquired: the link goes down
                    topology.changes.append(
                        LinkChange(
                            t,
                            False,
                            names[pair[0]],
                            names[pair[1]],
                            topology.range_km(*pair, t - 1),
                        )
                    )
                    spans = topology.intervals[pair]
                    spans[-1] = (spans[-1][0], t)
                for k in pair:
                    free[k] += 1
        while pending and pending[0][0] == t:
            _, pair = heapq.heappop(pending)
            if held.get(pair) == t:
                topology.changes.append(
                    LinkChange(t, True, names[pair[0]], names[pair[1]], topology.range_km(*pair, t))
                )
                topology.intervals.setdefault(pair, []).append((t, seconds))
        waiting = sorted(
            (pair for pair in feasible if pair not in held),
            key=lambda pair: topology.range_km(*pair, t),
        )
        for pair in waiting:
            if free[pair[0]] and free[pair[1]]:
                free[pair[0]] -= 1
                free[pair[1]] -= 1
                held[pair] = t + config.acquisition_s
                heapq.heappush(pending, (t + config.acquisition_s, pair))
    topology.changes.sort(key=lambda c: (c.t_s, c.a, c.b))
    return topology


def flapped(topology: Topology, flaps: tuple[Flap, ...]) -> Topology:
    """The links as they are, with ``flaps`` taken from the seconds the geometry gave them:
    each flapping pair's up intervals and changes made again."""
    seconds = len(topology.positions[0]) if topology.positions else 0
    out = Topology(
        topology.names,
        topology.positions,
        {pair: list(spans) for pair, spans in topology.intervals.items()},
        list(topology.changes),
    )
    for flap in flaps:
        i, j = sorted((topology.names.index(flap.a), topology.names.index(flap.b)))
        mask = np.zeros(seconds, dtype=bool)
        for s, e in out.intervals.get((i, j), ()):
            mask[s:e] = True
        t = np.arange(seconds)
        window = (t >= flap.start_s) & (t < flap.start_s + flap.duration_s)
        mask &= ~(window & ((t - flap.start_s) // flap.every_s % 2 == 1))
        spans = windows(mask)
        out.intervals[(i, j)] = spans
        a, b = topology.names[i], topology.names[j]
        out.changes = [c for c in out.changes if (c.a, c.b) != (a, b)]
        for s, e in spans:
            out.changes.append(LinkChange(s, True, a, b, out.range_km(i, j, s)))
            if e < seconds:
                out.changes.append(LinkChange(e, False, a, b, out.range_km(i, j, e - 1)))
    out.changes.sort(key=lambda c: (c.t_s, c.a, c.b))
    return out
