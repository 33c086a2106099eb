"""Streams core, step 1: the identity graph that decides which customer an event belongs to.

Identifiers (`kind:value`) are linked only by the journey map's evidence rules. Each evidence
link is an edge with its event time; the customers are the fold of the edges in event-time order
(`Fold.step`, a union-find with relabelling of the smaller side) starting from every identifier
on its own, so they are a function of the log, not of the order it is read in. Guards keep people
apart, decided in that same order: two CRM ids are never merged, a customer holds a bounded
number of identifiers, and a device linked to as many customers as allowed flags a further
person's sign-in as `shared_device` instead of fusing them. An edge older than the newest one
applied in its component is late: that component is folded again (streams.core.replay). Anonymous events on a
device follow its sign-ins in event time (streams.core.devices). Every decision is an
`IdentityLink` record for the audit trail.

The graph works over four mutable mappings (plain dicts in tests, Faust tables in the worker):
owner (identifier -> customer_id), members (customer_id -> identifiers; an empty list marks a
customer absorbed by a merge, whose id is not given out again), devices (anonymous id ->
identifiers it was linked with) and evidence (identifier -> its edges, plus the clock: the
newest edge applied).
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.journeymap import IdentityPolicy, JourneyMap
from schemas.outputs import IdentityLink
from streams.core.devices import (
    Edge,
    Spec,
    changed_holders,
    customer_id_for,
    device_edge,
    is_device,
    timeline_of,
)
from streams.core.records import from_ms, short_hash
from streams.core.replay import component_spec, newer_in_component, replay

__all__ = ["IdentityGraph", "Resolution", "Sighting", "customer_id_for"]

CRM_KIND = "crm_id"
DISTINCT_CRM_RULE = "distinct_crm_ids"
IDENTIFIER_CAP_RULE = "max_identifiers_per_customer"
CLOCK_KEY = "~clock"  # in the evidence mapping: [ms, event id, a, b] of the newest edge applied
SEQ_KEY = "~seq"  # in the evidence mapping: how many moves were given out (each spec's "s")
MS_PER_HOUR = 3_600_000
DEVICE_PREFIX = "anonymous_id:"
REFUSALS = ("shared_device", "cap_reached")  # decisions a replay records again after the late edge


@dataclass(frozen=True)
class Sighting:
    """What the graph needs to know about one event."""

    event_id: str
    channel: str
    event_type: str
    identifiers: tuple[str, ...]  # strongest first
    event_ms: int  # event time in epoch ms: a datetime is made only for the few events that link


@dataclass
class Resolution:
    """The customer an event belongs to, the audit records, merges as (absorbed, survivor), and
    moves as (customer, spec): that customer's events are attributed again by the spec."""

    customer_id: str = ""
    links: list[IdentityLink] = field(default_factory=list)
    merges: list[tuple[str, str]] = field(default_factory=list)
    moves: list[tuple[str, Spec]] = field(default_factory=list)


def record(kind: str, customer: str, merged: str | None, identifiers: tuple[str, ...], rule: str,
           edge: Edge) -> IdentityLink:
    link_id = "l-" + short_hash(f"{kind}/{rule}/{edge[1]}/{','.join(identifiers)}")
    event_time = from_ms(edge[0])
    return IdentityLink(link_id=link_id, kind=kind, customer_id=customer, merged_customer_id=merged,
                        identifiers=identifiers, rule=rule, evidence_event_id=edge[1], event_time=event_time,
                        recorded_at=event_time)


class Fold:
    """One step of the guarded union-find per edge, over owner/members/devices mappings."""

    def __init__(self, policy: IdentityPolicy, owner: MutableMapping[str, str],
                 members: MutableMapping[str, list[str]], devices: MutableMapping[str, list[str]]) -> None:
        self.policy, self.owner, self.members, self.devices = policy, owner, members, devices
        self.quiet = False  # a replay folds the edges before the late one again without recording them
        # a replay records, of the edges from the late one on, only the late event's decisions and refusals
        self.late_event: str | None = None

    def _note(self, result: Resolution, kind: str, customer: str, merged: str | None, identifiers: tuple[str, ...],
              rule: str, edge: Edge) -> None:
        if self.quiet or (self.late_event is not None and edge[1] != self.late_event and kind not in REFUSALS):
            return
        result.links.append(record(kind, customer, merged, identifiers, rule, edge))

    def step(self, edge: Edge, result: Resolution) -> None:
        _, _, a, b, rule = edge
        owner_a, owner_b = self.owner.get(a), self.owner.get(b)
        if owner_a is not None and owner_a == owner_b:
            return
        sign_in = a.startswith(DEVICE_PREFIX) != b.startswith(DEVICE_PREFIX)  # a device and a person
        if sign_in and (self._shared_device(a, b) or self._shared_device(b, a)):
            self._note(result, "shared_device", owner_a or owner_b or "", None, (a, b), rule, edge)
            return
        refused = self._refusal(a, b)
        if refused:
            self._note(result, "cap_reached", owner_a or owner_b or "", owner_b if owner_a else None,
                       (a, b), refused, edge)
            return
        if owner_a is None and owner_b is None:
            self._join(self.create(a), b, rule, edge, result)
        elif owner_a is None or owner_b is None:
            self._join(owner_a or owner_b or "", a if owner_a is None else b, rule, edge, result)
        else:
            self._merge(owner_a, owner_b, (a, b), rule, edge, result)
        if sign_in:
            self._remember_device(a, b)

    def _group(self, identifier: str) -> Sequence[str]:
        """The identifiers of its customer, not copied: only to read."""
        customer = self.owner.get(identifier)
        return self.members.get(customer, ()) if customer is not None else (identifier,)

    def create(self, identifier: str) -> str:
        customer, n = customer_id_for(identifier), 0
        while customer in self.members:  # held by another group, or absorbed once: ids are not given out twice
            n += 1
            customer = customer_id_for(f"{identifier}/{n}")
        self.owner[identifier] = customer
        self.members[customer] = [identifier]
        return customer

    def _join(self, customer: str, identifier: str, rule: str, edge: Edge, result: Resolution) -> None:
        members = self.members.get(customer, [])
        self.owner[identifier] = customer
        self.members[customer] = [*members, identifier]
        self._note(result, "link", customer, None, (*tuple(members[:1]), identifier), rule, edge)

    def _merge(self, one: str, other: str, pair: tuple[str, str], rule: str, edge: Edge,
               result: Resolution) -> None:
        survivor, absorbed = min(one, other), max(one, other)
        moved = list(self.members.get(absorbed, []))
        for identifier in moved:
            self.owner[identifier] = survivor
        self.members[survivor] = [*self.members.get(survivor, []), *moved]
        self.members[absorbed] = []
        result.merges.append((absorbed, survivor))
        self._note(result, "merge", survivor, absorbed, pair, rule, edge)

    def _refusal(self, a: str, b: str) -> str:
        ids_one, ids_other = self._group(a), self._group(b)
        if len(ids_one) + len(ids_other) <= 2 and not (a.startswith(CRM_KIND) and b.startswith(CRM_KIND)):
            return ""  # two identifiers alone: at most one CRM id between them unless both are
        crm_one = {i for i in ids_one if i.startswith(CRM_KIND + ":")}
        if crm_one:  # the other side's CRM ids matter only when this side has one
            crm_other = {i for i in ids_other if i.startswith(CRM_KIND + ":")}
            if crm_other and crm_one != crm_other:
                return DISTINCT_CRM_RULE
        if len(ids_one) + len(ids_other) > self.policy.max_identifiers_per_customer:
            return IDENTIFIER_CAP_RULE
        return ""

    def _shared_device(self, device: str, partner: str) -> bool:
        """Would linking `partner` to this device make it serve more customers than allowed?"""
        if not is_device(device) or is_device(partner):
            return False
        partner_owner = self.owner.get(partner)
        known = {self.owner.get(p) for p in self.devices.get(device, [])} - {partner_owner, None}
        return len(known) >= self.policy.max_customers_per_device

    def _remember_device(self, a: str, b: str) -> None:
        for device, partner in ((a, b), (b, a)):
            if is_device(device) and not is_device(partner):
                partners = list(self.devices.get(device, []))
                if partner not in partners:
                    self.devices[device] = [*partners, partner]


class IdentityGraph:
    """The evidence in event time, its fold, and the attribution of each event."""

    def __init__(self, journey_map: JourneyMap, owner: MutableMapping[str, str],
                 members: MutableMapping[str, list[str]], devices: MutableMapping[str, list[str]],
                 evidence: MutableMapping[str, Any] | None = None) -> None:
        self.map, self.policy = journey_map, journey_map.identity
        self.owner, self.members, self.devices = owner, members, devices
        self.evidence: MutableMapping[str, Any] = {} if evidence is None else evidence
        self.fold = Fold(self.policy, owner, members, devices)
        self.window_ms = int(self.policy.sign_in_window_hours * MS_PER_HOUR)
        # per (channel, type): the links of its evidence rules, as ("kind:", "kind:", rule name)
        self.rules: dict[tuple[str, str], tuple[tuple[str, str, str], ...]] = {}

    def resolve(self, sighting: Sighting) -> Resolution:
        """Apply the event's evidence in event time, then attribute the event."""
        result = Resolution()
        pairs = self.rules.get((sighting.channel, sighting.event_type))
        if pairs is None or pairs:  # most events are evidence of nothing: no call for them
            for edge in self._edges(sighting):
                if self._remember(edge):
                    self._apply(edge, result)
        result.customer_id = self.customer_for(sighting.identifiers[0], sighting.event_ms)
        return result

    def customer_for(self, strongest: str, at_ms: int) -> str:
        """The customer of an event: its strongest identifier's, or the device's at that time."""
        if strongest.startswith(DEVICE_PREFIX):
            edges = self.evidence.get(strongest)
            if edges:
                strongest = self._signed_in(strongest, edges, at_ms) or strongest
        return self.owner.get(strongest) or self.fold.create(strongest)

    def _signed_in(self, device: str, edges: list[Edge], at_ms: int) -> str | None:
        """streams.core.devices.signed_in over the device's own edges (a few), without sorting them:
        the partner of the latest sign-in (by event time, then event id) at or before `at_ms`."""
        latest: Edge | None = None
        person: str | None = None
        for edge in edges:
            when = edge[0]
            if when > at_ms or (latest is not None and (when, edge[1]) <= (latest[0], latest[1])):
                continue
            partner: str = edge[3] if edge[2] == device else edge[2]
            if not partner.startswith(DEVICE_PREFIX):  # a person: the edge is a sign-in
                latest, person = edge, partner
        if latest is None or at_ms - latest[0] > self.window_ms:
            return None
        return person

    def owner_of(self, identifier: str) -> str:
        return self.owner.get(identifier) or self.fold.create(identifier)

    def next_seq(self) -> int:
        """The number of the next move: stage 3 tells newer moves from older ones by it."""
        seq = int(self.evidence.get(SEQ_KEY, 0)) + 1
        self.evidence[SEQ_KEY] = seq
        return seq

    def _edges(self, sighting: Sighting) -> list[Edge]:
        key = (sighting.channel, sighting.event_type)
        pairs = self.rules.get(key)
        if pairs is None:
            pairs = self.rules[key] = tuple((a + ":", b + ":", rule.name) for rule in self.map.evidence_for(*key)
                                            for a, b in rule.links)
        if not pairs:
            return []
        ids = sighting.identifiers
        edges = []
        for prefix_a, prefix_b, name in pairs:
            at_a, at_b = _strongest(ids, prefix_a), _strongest(ids, prefix_b)
            if at_a >= 0 and at_b >= 0:
                first, second = (ids[at_a], ids[at_b]) if at_a < at_b else (ids[at_b], ids[at_a])
                edges.append([sighting.event_ms, sighting.event_id, first, second, name])
        return sorted(edges) if len(edges) > 1 else edges

    def _remember(self, edge: Edge) -> bool:
        """Keep the edge with both its identifiers; False when it is known already (a duplicate)."""
        known = self.evidence.get(edge[2], [])
        if edge in known:
            return False
        self.evidence[edge[2]] = [*known, edge]
        self.evidence[edge[3]] = [*self.evidence.get(edge[3], []), edge]
        return True

    def _apply(self, edge: Edge, result: Resolution) -> None:
        clock = self.evidence.get(CLOCK_KEY)
        if clock is None or edge[:4] >= clock:
            self.evidence[CLOCK_KEY] = edge[:4]
        elif newer_in_component(self, edge):  # older than the newest evidence of its own component
            replay(self, edge, result)
            return
        pair = device_edge(edge)
        self.fold.step(edge, result)
        if pair is not None:
            self._device_moves(*pair, edge, result)

    def _device_moves(self, device: str, person: str, edge: Edge, result: Resolution) -> None:
        """A sign-in applied in order may still precede events of the device read already."""
        edges = self.evidence.get(device, [])
        if len(edges) == 1 and self.owner.get(device) == self.owner.get(person) is not None:
            return  # its first sign-in, linked: the device and its one person are one customer
        people = {edge[3] if edge[2] == device else edge[2] for edge in edges}
        if len({self.owner_of(p) for p in people if not is_device(p)} | {self.owner_of(device)}) == 1:
            return  # one customer behind every sign-in and the device: nothing can move
        after = timeline_of(device, edges)
        before = list(after)
        before.remove([edge[0], edge[1], person])  # the device as it was without this sign-in
        moved = changed_holders(device, before, after, self.window_ms, self.owner_of, self.owner_of)
        if moved:
            for old, new in sorted(moved):
                result.links.append(record("move", new, old, (device,), edge[4], edge))
            spec = component_spec(self, edge)
            for old in sorted({old for old, _ in moved}):
                result.moves.append((old, spec))


def _strongest(identifiers: tuple[str, ...], prefix: str) -> int:
    """The position of the first (strongest) identifier of a kind, -1 when there is none."""
    for n, identifier in enumerate(identifiers):
        if identifier.startswith(prefix):
            return n
    return -1
