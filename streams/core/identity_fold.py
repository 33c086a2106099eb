"""Streams core, step 1 (the fold): identity evidence applied one edge at a time, with its guards.

`Fold.step` is the guarded union-find of streams.core.identity: an edge joins its identifiers'
customers unless a guard keeps them apart (two CRM ids, the identifier cap, a device shared by
as many people as allowed), and every decision is an `IdentityLink` for the audit trail. The
graph (streams.core.identity) feeds it edges in event time; a replay of late evidence
(streams.core.replay) folds a component again with it. `GraphState` is what both read of a
graph: the four mappings, the policy and the sign-in window.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any, NamedTuple

from schemas.ids import link_id_for
from schemas.journeymap import IdentityPolicy
from schemas.outputs import IdentityLink
from schemas.trusted import built
from streams.core.devices import DEVICE_PREFIX, Edge, Spec, customer_id_for
from streams.core.records import MS_PER_H, from_ms

CRM_KIND = "crm_id"
CRM_PREFIX = CRM_KIND + ":"
DISTINCT_CRM_RULE = "distinct_crm_ids"
IDENTIFIER_CAP_RULE = "max_identifiers_per_customer"
CLOCK_KEY = "~clock"  # in the evidence mapping: [ms, event id, a, b] of the newest edge applied
SEQ_KEY = "~seq"  # in the evidence mapping: how many moves were given out (each spec's "s")
REFUSALS = ("shared_device", "cap_reached")  # decisions a replay records again after the late edge
# a decision not yet made a record: kind, customer, merged customer, identifiers, rule, edge
Note = tuple[str, str, str | None, tuple[str, ...], str, Edge]


class Sighting(NamedTuple):
    """What the graph needs to know about one event (a tuple: one is made per event)."""

    event_id: str
    channel: str
    event_type: str
    identifiers: tuple[str, ...]  # strongest first
    event_ms: int  # event time in epoch ms: a datetime is made only for the few events that link


class Resolution:
    """The customer an event belongs to, the audit records, merges as (absorbed, survivor), and
    moves as (customer, spec): that customer's events are attributed again by the spec."""

    __slots__ = ("customer_id", "links", "merges", "moves")  # one per event: made as cheaply as can be

    def __init__(self) -> None:
        self.customer_id = ""
        self.links: list[IdentityLink] = []
        self.merges: list[tuple[str, str]] = []
        self.moves: list[tuple[str, Spec]] = []


def record(kind: str, customer: str, merged: str | None, identifiers: tuple[str, ...], rule: str,
           edge: Edge) -> IdentityLink:
    """The audit record of a decision. Built without validation (schemas.trusted): every value is
    the graph's own and of its field's type, and validating them cost the identity step more than
    finding them (tests/streams/test_identity_records.py validates what it builds)."""
    event_time = from_ms(edge[0])
    return built(IdentityLink, {
        "link_id": link_id_for(kind, rule, edge[1], identifiers), "kind": kind, "customer_id": customer,
        "merged_customer_id": merged, "identifiers": identifiers, "rule": rule, "evidence_event_id": edge[1],
        "event_time": event_time, "recorded_at": event_time})


class Fold:
    """One step of the guarded union-find per edge, over owner/members/devices mappings."""

    def __init__(self, policy: IdentityPolicy, owner: MutableMapping[str, str],
                 members: MutableMapping[str, list[str]], devices: MutableMapping[str, list[str]]) -> None:
        self.policy, self.owner, self.members, self.devices = policy, owner, members, devices
        self.quiet = False  # a replay folds the edges before the late one again without recording them
        # a replay records, of the edges from the late one on, only the late event's decisions and refusals
        self.late_event: str | None = None
        # a replay keeps its decisions unmade (`Note`s) until it knows the customer ids they will name
        self.notes: list[Note] | None = None

    def _note(self, result: Resolution, kind: str, customer: str, merged: str | None, identifiers: tuple[str, ...],
              rule: str, edge: Edge) -> None:
        if self.quiet or (self.late_event is not None and edge[1] != self.late_event and kind not in REFUSALS):
            return
        if self.notes is not None:
            self.notes.append((kind, customer, merged, identifiers, rule, edge))
        else:
            result.links.append(record(kind, customer, merged, identifiers, rule, edge))

    def step(self, edge: Edge, result: Resolution) -> None:
        a, b = edge[2], edge[3]
        owner_a, owner_b = self.owner.get(a), self.owner.get(b)
        if owner_a is not None and owner_a == owner_b:
            return
        rule = edge[4]
        a_is_device = a.startswith(DEVICE_PREFIX)
        sign_in = a_is_device != b.startswith(DEVICE_PREFIX)  # a device and a person
        if sign_in:
            device, person = (a, b) if a_is_device else (b, a)
            if self._shared_device(device, person, owner_b if a_is_device else owner_a):
                self._note(result, "shared_device", owner_a or owner_b or "", None, (a, b), rule, edge)
                return
        refused = self._refusal(a, b, owner_a, owner_b)
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
            self._remember_device(device, person)

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
        self._note(result, "link", customer, None, (members[0], identifier) if members else (identifier,), rule, edge)

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

    def _refusal(self, a: str, b: str, owner_a: str | None, owner_b: str | None) -> str:
        # the identifiers of each side's customer, not copied: only read
        ids_one: Sequence[str] = self.members.get(owner_a, ()) if owner_a is not None else (a,)
        ids_other: Sequence[str] = self.members.get(owner_b, ()) if owner_b is not None else (b,)
        if len(ids_one) + len(ids_other) <= 2 and not (a.startswith(CRM_KIND) and b.startswith(CRM_KIND)):
            return ""  # two identifiers alone: at most one CRM id between them unless both are
        crm_one = {i for i in ids_one if i.startswith(CRM_PREFIX)}
        if crm_one:  # the other side's CRM ids matter only when this side has one
            crm_other = {i for i in ids_other if i.startswith(CRM_PREFIX)}
            if crm_other and crm_one != crm_other:
                return DISTINCT_CRM_RULE
        if len(ids_one) + len(ids_other) > self.policy.max_identifiers_per_customer:
            return IDENTIFIER_CAP_RULE
        return ""

    def _shared_device(self, device: str, person: str, person_owner: str | None) -> bool:
        """Would linking `person` (owned by `person_owner`) to this device make it serve more
        customers than allowed?"""
        known = {self.owner.get(p) for p in self.devices.get(device, [])} - {person_owner, None}
        return len(known) >= self.policy.max_customers_per_device

    def _remember_device(self, device: str, person: str) -> None:
        partners = self.devices.get(device, [])
        if person not in partners:
            self.devices[device] = [*partners, person]


class GraphState:
    """The identity graph's state: owner, members, devices and evidence mappings, under a policy."""

    def __init__(self, policy: IdentityPolicy, owner: MutableMapping[str, str],
                 members: MutableMapping[str, list[str]], devices: MutableMapping[str, list[str]],
                 evidence: MutableMapping[str, Any] | None = None) -> None:
        self.policy = policy
        self.owner, self.members, self.devices = owner, members, devices
        self.evidence: MutableMapping[str, Any] = {} if evidence is None else evidence
        self.fold = Fold(policy, owner, members, devices)
        self.window_ms = int(policy.sign_in_window_hours * MS_PER_H)

    def next_seq(self) -> int:
        """The number of the next move: stage 3 tells newer moves from older ones by it."""
        seq = int(self.evidence.get(SEQ_KEY, 0)) + 1
        self.evidence[SEQ_KEY] = seq
        return seq
