"""Streams core, step 1: the identity graph that decides which customer an event belongs to.

Identifiers (`kind:value`) are linked only by the journey map's evidence rules; linked identifiers
form one customer (union-find with relabelling of the smaller side, so the result does not depend
on arrival order). Guards keep people apart: two CRM ids are never merged, a customer holds a
bounded number of identifiers, and a device seen with more customers than allowed is flagged as
shared instead of fusing them. Every decision is an `IdentityLink` record for the audit trail.

The graph works over three mutable mappings (plain dicts in tests, Faust tables in the worker):
owner (identifier -> customer_id), members (customer_id -> identifiers) and devices
(anonymous id -> identifiers it was linked with).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from schemas.journeymap import JourneyMap
from schemas.outputs import IdentityLink
from streams.core.records import from_ms, short_hash

DEVICE_KIND = "anonymous_id"
CRM_KIND = "crm_id"
DISTINCT_CRM_RULE = "distinct_crm_ids"
IDENTIFIER_CAP_RULE = "max_identifiers_per_customer"


def customer_id_for(identifier: str) -> str:
    """`cust-` + 16 hex of SHA-256 of the identifier key that created the customer."""
    return "cust-" + short_hash(identifier)


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
    """The customer an event belongs to, the audit records, and merges as (absorbed, survivor)."""

    customer_id: str = ""
    links: list[IdentityLink] = field(default_factory=list)
    merges: list[tuple[str, str]] = field(default_factory=list)


class IdentityGraph:
    """Union-find over identifiers with the specification's guards."""

    def __init__(self, journey_map: JourneyMap, owner: MutableMapping[str, str],
                 members: MutableMapping[str, list[str]], devices: MutableMapping[str, list[str]]) -> None:
        self.map, self.policy = journey_map, journey_map.identity
        self.owner, self.members, self.devices = owner, members, devices
        self.evidence: dict[tuple[str, str], tuple[Any, ...]] = {}  # the map's rules per (channel, event type)

    def resolve(self, sighting: Sighting) -> Resolution:
        """Apply the event's evidence links, then attribute it to its strongest identifier's customer."""
        result = Resolution()
        present = set(sighting.identifiers)
        for rule in self._evidence_for(sighting.channel, sighting.event_type):
            for kind_a, kind_b in rule.links:
                a, b = _find(sighting.identifiers, kind_a), _find(sighting.identifiers, kind_b)
                if a in present and b in present:
                    self._link(a, b, rule.name, sighting, result)
        result.customer_id = self.owner.get(sighting.identifiers[0]) or self._create(sighting.identifiers[0])
        return result

    def _evidence_for(self, channel: str, event_type: str) -> tuple[Any, ...]:
        key = (channel, event_type)
        if key not in self.evidence:
            self.evidence[key] = self.map.evidence_for(channel, event_type)
        return self.evidence[key]

    def customer_of(self, identifier: str) -> str | None:
        return self.owner.get(identifier)

    def _create(self, identifier: str) -> str:
        customer = customer_id_for(identifier)
        self.owner[identifier] = customer
        self.members[customer] = [identifier]
        return customer

    def _link(self, a: str, b: str, rule: str, sighting: Sighting, result: Resolution) -> None:
        owner_a, owner_b = self.owner.get(a), self.owner.get(b)
        if owner_a is not None and owner_a == owner_b:
            return
        if self._shared_device(a, b) or self._shared_device(b, a):
            result.links.append(self._record("shared_device", owner_a or owner_b or "", None, (a, b), rule, sighting))
            return
        if owner_a is None and owner_b is None:
            first, second = sorted((a, b), key=sighting.identifiers.index)
            self._join(self._create(first), second, rule, sighting, result)
        elif owner_a is None or owner_b is None:
            self._join(owner_a or owner_b or "", a if owner_a is None else b, rule, sighting, result)
        else:
            self._merge(owner_a, owner_b, (a, b), rule, sighting, result)
        self._remember_device(a, b)

    def _join(self, customer: str, identifier: str, rule: str, sighting: Sighting, result: Resolution) -> None:
        members = list(self.members.get(customer, []))
        if len(members) >= self.policy.max_identifiers_per_customer:
            result.links.append(self._record("cap_reached", customer, None, (identifier,), IDENTIFIER_CAP_RULE, sighting))
            return
        self.owner[identifier] = customer
        self.members[customer] = [*members, identifier]
        result.links.append(self._record("link", customer, None, (*tuple(members[:1]), identifier), rule, sighting))

    def _merge(self, one: str, other: str, pair: tuple[str, str], rule: str, sighting: Sighting,
               result: Resolution) -> None:
        refused = self._refusal(one, other)
        if refused:
            result.links.append(self._record("cap_reached", one, other, pair, refused, sighting))
            return
        survivor, absorbed = min(one, other), max(one, other)
        moved = list(self.members.get(absorbed, []))
        for identifier in moved:
            self.owner[identifier] = survivor
        self.members[survivor] = [*self.members.get(survivor, []), *moved]
        self.members.pop(absorbed, None)  # absent only if a crash left the graph half-written
        result.merges.append((absorbed, survivor))
        result.links.append(self._record("merge", survivor, absorbed, pair, rule, sighting))

    def _refusal(self, one: str, other: str) -> str:
        ids_one, ids_other = self.members.get(one, []), self.members.get(other, [])
        crm_one = {i for i in ids_one if i.startswith(CRM_KIND + ":")}
        crm_other = {i for i in ids_other if i.startswith(CRM_KIND + ":")}
        if crm_one and crm_other and crm_one != crm_other:
            return DISTINCT_CRM_RULE
        if len(ids_one) + len(ids_other) > self.policy.max_identifiers_per_customer:
            return IDENTIFIER_CAP_RULE
        return ""

    def _shared_device(self, device: str, partner: str) -> bool:
        """Would linking `partner` to this device make it serve more customers than allowed?"""
        if not device.startswith(DEVICE_KIND + ":") or partner.startswith(DEVICE_KIND + ":"):
            return False
        partner_owner = self.owner.get(partner)
        known = {self.owner.get(p) for p in self.devices.get(device, [])} - {partner_owner, None}
        return len(known) >= self.policy.max_customers_per_device

    def _remember_device(self, a: str, b: str) -> None:
        for device, partner in ((a, b), (b, a)):
            if device.startswith(DEVICE_KIND + ":") and not partner.startswith(DEVICE_KIND + ":"):
                partners = list(self.devices.get(device, []))
                if partner not in partners:
                    self.devices[device] = [*partners, partner]

    def _record(self, kind: str, customer: str, merged: str | None, identifiers: tuple[str, ...], rule: str,
                sighting: Sighting) -> IdentityLink:
        link_id = "l-" + short_hash(f"{kind}/{rule}/{sighting.event_id}/{','.join(identifiers)}")
        event_time = from_ms(sighting.event_ms)
        return IdentityLink(link_id=link_id, kind=kind, customer_id=customer,
                            merged_customer_id=merged, identifiers=identifiers, rule=rule,
                            evidence_event_id=sighting.event_id, event_time=event_time,
                            recorded_at=event_time)


def _find(identifiers: tuple[str, ...], kind: str) -> str:
    prefix = kind + ":"
    return next((i for i in identifiers if i.startswith(prefix)), "")
