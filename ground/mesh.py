"""The laser mesh as the ground predicts it (docs/constellation.md): the contact plan that the
payloads route over (flight/relay/contact_plan.py, the same file operations uplink), read by
spacecraft name. It answers, by the contact-graph routing the payloads' relays run themselves,
when a consignment sent up now reaches a spacecraft (up its own link, or up another's and across
the laser links), which spacecraft in contact would bring it there soonest, and when what a
spacecraft holds at a moment reaches the ground.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from flight.downlink.service import GROUND_ENTITY
from flight.relay.contact_plan import ContactPlan, PlanError


class MeshError(ValueError):
    """A mesh contact plan the station cannot use; one line for the operator."""


class Mesh:
    """The payloads' contact plan, with each spacecraft's name for its entity id on the mesh
    (its spacecraft id)."""

    def __init__(self, plan: ContactPlan, entities: dict[str, int]) -> None:
        self.plan = plan
        self.entities = entities

    @classmethod
    def load(cls, path: Path, entities: dict[str, int]) -> Mesh:
        """The plan in a file; MeshError naming the file and the fault."""
        try:
            plan = ContactPlan.parse(path.read_bytes())
        except OSError as exc:
            raise MeshError(f"cannot read the mesh plan {path}: {exc.strerror}") from None
        except PlanError as exc:
            raise MeshError(f"{path}: {exc}") from None
        return cls(plan, entities)

    def up(self, dest: str, t: float, octets: int) -> float | None:
        """When ``octets`` sent from the ground at ``t`` (or at the first pass that can take
        them) reach ``dest``, up its own link or across the mesh; None: no way in the plan."""
        route = self.plan.route(GROUND_ENTITY, self.entities[dest], t, octets)
        return None if route is None else route.arrival

    def across(self, carrier: str, dest: str, t: float, octets: int) -> float | None:
        """When ``octets`` that ``carrier`` holds at ``t`` reach ``dest`` over the laser links,
        never by way of the ground (as a relay routes a consignment); None: no way."""
        if carrier == dest:
            return t
        route = self.plan.route(
            self.entities[carrier], self.entities[dest], t, octets,
            not_through=frozenset({GROUND_ENTITY}),
        )  # fmt: skip
        return None if route is None else route.arrival

    def carrier(
        self, dest: str, t: float, octets: int, up: Iterable[str]
    ) -> tuple[str, float] | None:
        """Of the spacecraft ``up`` (in contact now), the one across which ``octets`` sent at
        ``t`` reach ``dest`` soonest (``dest`` itself before any other that ties), and when;
        None: none of them has a way there."""
        ways = [(self.across(name, dest, t, octets), name != dest, name) for name in up]
        able = [(arrival, later, name) for arrival, later, name in ways if arrival is not None]
        if not able:
            return None
        arrival, _, name = min(able)
        return name, arrival

    def down(self, source: str, t: float, octets: int) -> float | None:
        """When ``octets`` that ``source`` holds at ``t`` reach the ground, by its own pass or
        across the mesh to another's, as its relay routes results; None: no way."""
        route = self.plan.route(self.entities[source], GROUND_ENTITY, t, octets)
        return None if route is None else route.arrival
