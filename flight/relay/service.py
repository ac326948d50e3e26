"""The payload's relay on the laser mesh (docs/constellation.md): the files this satellite holds
for the ground, its own job results and what neighbours passed it, each sent on by the route
the contact plan gives (contact-graph routing) toward the soonest ground contact: down its own
link when that is soonest (handed to the downlink, whose journal keeps it from then), or over
a laser link to the neighbour on the way, as a class 2 CFDP transaction of its own CFDP entity.

Custody passes hop by hop: a neighbour takes a file when it holds it whole in its file store
(it sends Finished then), and only then does this satellite let it go; a transfer that fails
(the link broke, the neighbour restarted past its timers) leaves the file here, to be routed
again by another neighbour for a while. A file keeps its origin and its name there across
hops (``relay/ORIGIN/NAME`` on the laser links and down to the ground, which files it under
its origin), so every satellite and the ground keep it once.

The other way, the ground reaches a satellite out of its contact by a consignment
(flight/relay/consignment.py) uplinked to one in contact: named ``uplink/DEST/ID``, it is
routed like a file for the ground, but toward DEST, and never through the ground. At DEST it is
handed to the controller (``deliveries``), which runs its signed telecommands through admission
as if they came up its own link; only then is it marked delivered. Delivered again after a
restart, its telecommands are refused as replays, so none runs twice.

Everything runs on the bus's ticks, in bus time: what arrived is taken in, held files are
routed, and the second's share of the terminal's rate is sent.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path, PurePosixPath

from flight.cfdp.entity import RECEIVER, SENDER, Entity
from flight.cfdp.filestore import FileStore
from flight.cfdp.journal import Journal
from flight.cfdp.mib import EntityConfig
from flight.cfdp.pdu import Condition
from flight.downlink.recorder import PRIORITY_EVENTS, PRIORITY_HOUSEKEEPING
from flight.downlink.service import RELAYED_PREFIX, UPLINK_PREFIX, Downlink
from flight.events import EV, Event
from flight.jobs.sandbox import replace_durably
from flight.links.laser import LaserLink
from flight.links.udp import RECEIVE_BATCH
from flight.relay.consignment import (
    Consignment,
    ConsignmentError,
    discard,
    parse_consignment_name,
    read_consignment,
)
from flight.relay.contact_plan import ContactPlan, PlanError
from flight.relay.snapshot import copy_hashed, snapshot_name
from flight.relay.custody import (
    DELIVERED,
    DOWN,
    DOWNLINKING,
    FORWARDED,
    FORWARDING,
    HELD,
    HOLDING,
    Bundle,
    Custody,
)

PLAN_FILE = "contact-plan.json"
SEGMENT = 8_192
AVOID_S = 300.0  # a neighbour a transfer to failed is routed around for this long
UNSTABLE_FAILURES = 3  # transfers to a neighbour failed within UNSTABLE_WINDOW_S: its link is
UNSTABLE_WINDOW_S = 1800  # unstable (LASER_LINK_UNSTABLE), said once in UNSTABLE_SAY_S at most
UNSTABLE_SAY_S = 3600.0
ISL_ACK_LIMIT = 5  # a laser link that breaks is given up on in about a quarter of a minute
RECEIVE_ROUNDS = 16  # batches taken from the terminal in a second at most (the rest wait)


def relayed_name(origin: int, name: str) -> str:
    """A file's name on the laser links and, relayed, down to the ground: relay/ORIGIN/NAME."""
    return f"{RELAYED_PREFIX}{origin}/{name}"


def parse_relayed(dest_name: str) -> tuple[int, str] | None:
    """The origin and the name there of a relayed file's name; None for any other."""
    parts = PurePosixPath(dest_name).parts
    if len(parts) < 3 or f"{parts[0]}/" != RELAYED_PREFIX or not parts[1].isdigit():
        return None
    return int(parts[1]), "/".join(parts[2:])


def _priority(name: str) -> int:
    """A relayed file's priority here, from what it is (its origin's is not carried): stored
    events and housekeeping as the recorder gives them, a job's results and the ground's
    consignments before both."""
    if name.startswith("stored/"):
        return PRIORITY_EVENTS if ".events." in name else PRIORITY_HOUSEKEEPING
    return 0


class Relay:
    def __init__(
        self, state_dir: Path, entity_id: int, link: LaserLink, downlink: Downlink
    ) -> None:
        self.dir = state_dir / "relay"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.entity_id = entity_id
        self.link = link
        self.downlink = downlink
        self.now = 0.0
        self.custody = Custody(self.dir / "custody.sqlite")
        self.store = FileStore(self.dir / "store")
        self.entity = Entity(
            EntityConfig(entity_id, segment_size=SEGMENT, ack_limit=ISL_ACK_LIMIT),
            link,
            self.store,
            Journal(self.dir / "cfdp.sqlite"),
            clock=lambda: self.now,
        )
        self.avoid: dict[int, float] = {}  # neighbour -> until when it is routed around
        self.failed_at: dict[int, list[float]] = {}  # neighbour -> its transfers' failures
        self.unstable_said: dict[int, float] = {}  # neighbour -> when it was last said unstable
        self.counters: Counter[str] = Counter()
        self.plan: ContactPlan | None = None
        self._routed_until = -math.inf  # held files are routed again from this bus second
        self._ground_up = False  # the downlink's window, last second
        self._links = (0, math.inf, -math.inf)  # laser links up; from, until when
        self.started: list[Event] = []  # for the controller to send once it runs
        self.news: list[Event] = []  # events of this second, besides the transfers'
        self.deliveries: list[Consignment] = []  # consignments for this satellite, to be run
        self.delivering: Consignment | None = None  # the one whose head is being run
        path = self.dir / PLAN_FILE
        if path.is_file():
            try:
                self.plan = ContactPlan.parse(path.read_bytes())
            except PlanError as exc:
                self.started.append(EV.CONTACT_PLAN_REFUSED(reason=str(exc)))
        self._resume()

    # --- what it is given
    def hold(self, path: Path, name: str, priority: int) -> None:
        """A file made here (a job's result, a recording of its telemetry) to reach the
        ground, once however often it is given (even after it went on)."""
        if self.custody.state(self.entity_id, name) is not None:
            return
        bundle = Bundle(self.entity_id, name, str(path), path.stat().st_size, priority, HELD,
                        None, None, False)  # fmt: skip
        if self.custody.take(bundle):
            self._routed_until = -math.inf

    def snapshot(self, path: Path, relative: str, priority: int) -> str:
        """A file DOWNLINK_FILE asked for: copied as it stands and held under the name of its
        content (flight/relay/snapshot.py), to be routed like a result; its name. Asked for
        again unchanged while held here, it is the file held; after it went on, it goes
        again under a name of its own."""
        files = self.dir / "files"
        partial = files / ".partial" / "copy"
        digest = copy_hashed(path, partial)
        again = 0
        while known := self.custody.state(self.entity_id, snapshot_name(digest, relative, again)):
            if known[0] in HOLDING:
                partial.unlink()
                return snapshot_name(digest, relative, again)
            again += 1
        name = snapshot_name(digest, relative, again)
        kept = files / name
        kept.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, kept)
        bundle = Bundle(self.entity_id, name, str(kept), kept.stat().st_size, priority, HELD,
                        None, None, True)  # fmt: skip
        if self.custody.take(bundle):
            self._routed_until = -math.inf
        return name

    def carry(self, path: Path, name: str) -> None:
        """A consignment the ground uplinked to this satellite, to be routed to its destination
        (or run here, where it is this one)."""
        self._arrived(self.downlink.config.ground_id, name, path)

    @property
    def transactions(self) -> int:
        return len(self.entity.senders) + len(self.entity.receivers)

    def housekeeping(self) -> dict[str, int]:
        """The laser links the plan has up now (counted again only when a contact begins or
        ends) and the files held."""
        count, since, until = self._links
        if not since <= self.now < until:  # a contact began or ended, or a new plan, or time jumped
            count, since, until = 0, self.now, math.inf
            if self.plan is not None:
                ground = self.downlink.config.ground_id
                up = {c.other(self.entity_id) for c in self.plan.contacts_of(self.entity_id)
                      if c.start <= self.now < c.end}  # fmt: skip
                count, until = len(up - {ground}), self.plan.next_change(self.now)
            self._links = (count, since, until)
        return {"isl_links": min(count, 0xFF), "relay_files": min(self.custody.holding, 0xFFFF)}

    def holds(self, name: str) -> bool:
        """Whether a file of that name made here was ever given to the relay."""
        return self.custody.state(self.entity_id, name) is not None

    def use_plan(self, data: bytes, plan: ContactPlan) -> Event:
        """Keep ``plan`` (its JSON, ``data``) and route over it from now."""
        replace_durably(self.dir / PLAN_FILE, data)
        self.plan = plan
        self._routed_until = -math.inf
        self._links = (0, math.inf, -math.inf)
        ends = max((c.end for c in plan.contacts), default=0.0)
        return EV.CONTACT_PLAN_LOADED(contacts=len(plan.contacts), ends=ends)

    # --- each bus second
    def second(self, now: float) -> list[Event]:
        """Take in what the laser terminal delivered, route what is held, and send this
        second's share; the events of files taken and passed on."""
        self.now = self.entity.now = now
        self.link.second()
        for _ in range(RECEIVE_ROUNDS):  # what the terminal delivered, in batches
            pdus = self.link.receive(0)
            for pdu in pdus:
                self.entity.receive(pdu)
            if len(pdus) < RECEIVE_BATCH:
                break
        events = self._ended()
        ground_up = self.downlink.link.up
        if self._ground_up and not ground_up:
            self._pass_ended()
        self._ground_up = ground_up
        self._route()
        self.entity.poll()
        news, self.news = self.news, []
        return events + self._ended() + news

    def _route(self) -> None:
        """Route what is held: again only when something changed (a file taken, a transfer
        failed, a new plan, a pass ended) or a contact of the plan began or ended."""
        if self.now < self._routed_until:
            return
        self.avoid = {n: until for n, until in self.avoid.items() if until > self.now}
        change = self.plan.next_change(self.now) if self.plan else math.inf
        self._routed_until = min(change, *self.avoid.values(), math.inf)
        backlog = self._backlog()
        ground = self.downlink.config.ground_id
        for bundle in self.custody.in_state(HELD):
            hop = self._next_hop(bundle, backlog)
            if hop == self.entity_id:
                self._deliver(bundle)
            elif hop == ground:
                mine = bundle.origin == self.entity_id
                name = bundle.name if mine else relayed_name(bundle.origin, bundle.name)
                seq = self.downlink.put(Path(bundle.path), name, bundle.priority)
                self.custody.set(bundle, DOWNLINKING, bundle.hop, seq)  # hop: where it came from
            elif hop is not None:
                seq = self.entity.put(
                    bundle.path,
                    self._wire_name(bundle),
                    remote_id=hop,
                    priority=bundle.priority,
                )
                self.custody.set(bundle, FORWARDING, hop, seq)
            if hop not in (None, self.entity_id):
                backlog[hop] += bundle.octets

    def _deliver(self, bundle: Bundle) -> None:
        """A consignment that reached this satellite, read for the controller to run (once per
        time it is routed: it stays held until the controller says it ran)."""
        if any(c.name == bundle.name for c in self.deliveries):
            return
        try:
            self.deliveries.append(
                read_consignment(Path(bundle.path), bundle.name, self.downlink.entity.store)
            )
        except ConsignmentError as exc:
            self.counters["consignments_refused"] += 1
            self.news.append(EV.CONSIGNMENT_REFUSED(name=bundle.name, reason=str(exc)))
            self._delivered(bundle)

    def delivered(self, consignment: Consignment) -> Event:
        """The controller ran a consignment: it is done with here, once and for all."""
        self.deliveries.remove(consignment)
        if not consignment.accepted:  # its files were never placed
            discard(consignment.files)
        key = (self.downlink.config.ground_id, consignment.name)
        for bundle in self.custody.in_state(HELD):
            if bundle.key == key:
                self._delivered(bundle)
        self.counters["consignments_delivered"] += 1
        return EV.CONSIGNMENT_DELIVERED(
            name=consignment.name,
            accepted=int(consignment.accepted),
            files=len(consignment.files) if consignment.accepted else 0,
            commands=consignment.commands,
        )

    def _delivered(self, bundle: Bundle) -> None:
        self.custody.set(bundle, DELIVERED, bundle.hop)
        Path(bundle.path).unlink(missing_ok=True)

    def _backlog(self) -> Counter[int]:
        """The octets queued for each first hop: the transfers open to each neighbour, and the
        files handed to the downlink that have not gone down yet (those that have are marked
        down here)."""
        queued: Counter[int] = Counter()
        for bundle in self.custody.in_state(FORWARDING):
            queued[bundle.hop or 0] += bundle.octets
        for bundle in self.custody.in_state(DOWNLINKING):
            if bundle.seq in self.downlink.entity.senders:
                queued[self.downlink.config.ground_id] += bundle.octets
            else:  # its transfer ended (a failed one the downlink tries again itself)
                self.custody.set(bundle, DOWN)
        return queued

    def _pass_ended(self) -> None:
        """A pass ended with files still queued for it: each whose soonest way is now through a
        neighbour rather than the next pass is taken back from the downlink (its transfer
        cancelled) and routed again."""
        if self.plan is None:
            return
        backlog = self._backlog()
        for bundle in self.custody.in_state(DOWNLINKING):
            backlog[self.downlink.config.ground_id] -= bundle.octets
            hop = self._next_hop(bundle, backlog, now_or_later=True)
            if hop not in (None, self.downlink.config.ground_id) and bundle.seq is not None:
                self.downlink.entity.cancel(bundle.seq)
                self.custody.set(bundle, HELD, bundle.hop)
                self.counters["taken_back"] += 1
                self._routed_until = -math.inf
            else:
                backlog[self.downlink.config.ground_id] += bundle.octets

    def _destination(self, bundle: Bundle) -> int:
        """Where a bundle goes: the ground, or a consignment's satellite."""
        where = parse_consignment_name(bundle.name)
        if bundle.origin == self.downlink.config.ground_id and where is not None:
            return where[0]
        return self.downlink.config.ground_id

    def _next_hop(
        self, bundle: Bundle, backlog: Counter[int], now_or_later: bool = False
    ) -> int | None:
        """This satellite, for a consignment to it. Else the ground (down this satellite's own
        link) when that is the soonest way, or there is no plan; a neighbour when the way
        through it is sooner and its link is up now (or ``now_or_later``); else None: held,
        until the plan's contacts change (no way in the plan: until a new plan). A file is not
        routed straight back to the neighbour it came from, nor a consignment through the
        ground."""
        ground, dest = self.downlink.config.ground_id, self._destination(bundle)
        if dest == self.entity_id:
            return dest
        if self.plan is None:
            return ground if dest == ground else None
        avoid = set(self.avoid)
        if bundle.relayed and bundle.state != FORWARDING and bundle.hop is not None:
            avoid.add(bundle.hop)
        route = self.plan.route(
            self.entity_id, dest, self.now, bundle.octets, frozenset(avoid), backlog,
            not_through=frozenset({ground}),
        )  # fmt: skip
        if route is None:
            return None
        if route.next_hop == ground or now_or_later:
            return route.next_hop
        return route.next_hop if self.plan.up(self.entity_id, route.next_hop, self.now) else None

    def _wire_name(self, bundle: Bundle) -> str:
        """Its name on the laser links: relay/ORIGIN/NAME, or a consignment's own."""
        if self._destination(bundle) != self.downlink.config.ground_id:
            return bundle.name
        return relayed_name(bundle.origin, bundle.name)

    def _ended(self) -> list[Event]:
        events: list[Event] = []
        while self.entity.reports:
            r = self.entity.reports.popleft()
            if r.role == SENDER:
                events += self._sent(r.seq_num, r.condition, r.delivered)
            elif r.role == RECEIVER and r.delivered and r.path:
                events += self._taken(r.source_id, r.dest_name or "", Path(r.path))
        return events

    def _sent(self, seq: int, condition: Condition, delivered: bool) -> list[Event]:
        bundle = next((b for b in self.custody.in_state(FORWARDING) if b.seq == seq), None)
        if bundle is None:
            return []
        fields = {"origin": bundle.origin, "name": bundle.name, "neighbour": bundle.hop}
        if condition == Condition.NO_ERROR and delivered:
            self.custody.set(bundle, FORWARDED, bundle.hop, seq)
            if bundle.relayed or bundle.name.startswith("stored/"):  # a copy, a recording
                Path(bundle.path).unlink(missing_ok=True)
            self.counters["forwarded"] += 1
            return [EV.FILE_FORWARDED(**fields)]
        hop = bundle.hop
        assert hop is not None
        self.avoid[hop] = self.now + AVOID_S
        self.custody.set(bundle, HELD)
        self._routed_until = -math.inf
        self.counters["forward_failed"] += 1
        return [EV.FILE_FORWARD_FAILED(**fields, condition=condition.name), *self._unstable(hop)]

    def _unstable(self, neighbour: int) -> list[Event]:
        """A transfer to ``neighbour`` failed: LASER_LINK_UNSTABLE when UNSTABLE_FAILURES have
        within UNSTABLE_WINDOW_S (not said of it in the last UNSTABLE_SAY_S)."""
        recent = [t for t in self.failed_at.get(neighbour, []) if self.now - t < UNSTABLE_WINDOW_S]
        self.failed_at[neighbour] = recent = [*recent, self.now]
        said = self.unstable_said.get(neighbour, -math.inf)
        if len(recent) < UNSTABLE_FAILURES or self.now - said < UNSTABLE_SAY_S:
            return []
        self.unstable_said[neighbour] = self.now
        self.counters["links_unstable"] += 1
        return [EV.LASER_LINK_UNSTABLE(neighbour=neighbour, failures=len(recent),
                                       window_s=UNSTABLE_WINDOW_S)]  # fmt: skip

    def _taken(self, neighbour: int, dest_name: str, path: Path) -> list[Event]:
        if parse_consignment_name(dest_name) is not None:
            return self._arrived(self.downlink.config.ground_id, dest_name, path, neighbour)
        where = parse_relayed(dest_name)
        if where is None:  # not a file for the ground: nothing to route
            return []
        return self._arrived(*where, path, neighbour)

    def _arrived(
        self, origin: int, name: str, path: Path, neighbour: int | None = None
    ) -> list[Event]:
        """A file to route: a neighbour's (``neighbour`` 0: taken before a restart, from whom
        is not known), or the ground's consignment (no neighbour)."""
        came_from = self.downlink.config.ground_id if neighbour is None else neighbour or None
        fields = {"origin": origin, "name": name, "neighbour": neighbour or 0}
        bundle = Bundle(origin, name, str(path), path.stat().st_size, _priority(name), HELD,
                        came_from, None, True)  # fmt: skip
        if not self.custody.take(bundle):  # a copy of one held here, or gone down from here
            state, kept = self.custody.state(origin, name) or ("", "")
            if state not in HOLDING or kept != str(path):  # else this very file, written again
                path.unlink(missing_ok=True)
            self.counters["taken_again"] += 1
            return [EV.FILE_TAKEN_AGAIN(**fields)]
        self.counters["taken"] += 1
        self._routed_until = -math.inf
        return [EV.FILE_TAKEN(**fields)]

    def _resume(self) -> None:
        """After a restart: transfers to neighbours that ended while the controller was down
        (their outcome is in the journal), and files delivered whole that it never took."""
        ended = {(r.role, r.seq_num): r for r in self.entity.journal.history()}
        for bundle in self.custody.in_state(FORWARDING):
            r = ended.get((SENDER, bundle.seq))
            if r is not None:
                self.started += self._sent(r.seq_num, r.condition, r.delivered)
            elif bundle.seq not in self.entity.senders:
                self.custody.set(bundle, HELD)  # never journalled: it goes again
        for path in sorted((self.store.root / RELAYED_PREFIX).rglob("*")):
            name = path.relative_to(self.store.root).as_posix()
            where = parse_relayed(name)
            if path.is_file() and where is not None and self.custody.state(*where) is None:
                self.started += self._arrived(*where, path, 0)  # taken just before a restart
        ground = self.downlink.config.ground_id
        for store in (self.store, self.downlink.entity.store):  # from a neighbour, the ground
            for path in sorted((store.root / UPLINK_PREFIX).rglob("*")):
                name = path.relative_to(store.root).as_posix()
                known = self.custody.state(ground, name) is not None
                if path.is_file() and parse_consignment_name(name) is not None and not known:
                    taken = self._arrived(ground, name, path, 0 if store is self.store else None)
                    self.started += taken if store is self.store else []

    def close(self) -> None:
        self.custody.close()
        self.entity.journal.close()
        self.link.close()
