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

from collections.abc import MutableMapping
from typing import Any

from schemas.journeymap import JourneyMap
from streams.core.devices import (
    DEVICE_PREFIX,
    Edge,
    changed_holders,
    customer_id_for,
    is_device,
    timeline_of,
)
from streams.core.identity_fold import (
    CLOCK_KEY,
    GraphState,
    Resolution,
    Sighting,
    record,
)
from streams.core.replay import component_spec, newer_in_component, replay

__all__ = ["CLOCK_KEY", "IdentityGraph", "Resolution", "Sighting", "customer_id_for"]


class IdentityGraph(GraphState):
    """The evidence in event time, its fold, and the attribution of each event."""

    def __init__(self, journey_map: JourneyMap, owner: MutableMapping[str, str],
                 members: MutableMapping[str, list[str]], devices: MutableMapping[str, list[str]],
                 evidence: MutableMapping[str, Any] | None = None) -> None:
        super().__init__(journey_map.identity, owner, members, devices, evidence)
        self.map = journey_map
        # per (channel, type): the links of its evidence rules, as ("kind:", "kind:", rule name)
        self.rules: dict[tuple[str, str], tuple[tuple[str, str, str], ...]] = {}

    def resolve(self, sighting: Sighting) -> Resolution:
        """Apply the event's evidence in event time, then attribute the event."""
        result = Resolution()
        key = (sighting.channel, sighting.event_type)
        pairs = self.rules.get(key)
        if pairs is None:
            pairs = self.rules[key] = tuple((a + ":", b + ":", rule.name) for rule in self.map.evidence_for(*key)
                                            for a, b in rule.links)
        if pairs:  # most events are evidence of nothing: no call for them
            for edge in self._edges(sighting, pairs):
                if self._remember(edge):
                    self._apply(edge, result)
        strongest = sighting.identifiers[0]
        if strongest.startswith(DEVICE_PREFIX):
            result.customer_id = self.customer_for(strongest, sighting.event_ms)
        else:  # customer_for's answer for a person's identifier, without the call
            result.customer_id = self.owner.get(strongest) or self.fold.create(strongest)
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

    def _edges(self, sighting: Sighting, pairs: tuple[tuple[str, str, str], ...]) -> list[Edge]:
        """The event's evidence edges, by its (channel, type)'s rule links ("kind:", "kind:", rule)."""
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
        key = edge[:4]
        if clock is None or key >= clock:
            self.evidence[CLOCK_KEY] = key
        elif newer_in_component(self, edge):  # older than the newest evidence of its own component
            replay(self, edge, result)
            return
        self.fold.step(edge, result)
        a, b = edge[2], edge[3]
        a_is_device = a.startswith(DEVICE_PREFIX)
        if a_is_device != b.startswith(DEVICE_PREFIX):  # a sign-in: device and person
            self._device_moves(*((a, b) if a_is_device else (b, a)), edge, result)

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
