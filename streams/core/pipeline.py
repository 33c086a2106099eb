"""Streams core: the whole stream processor in one process, without Kafka (reference and tests).

Resolves identity, folds each event into its customer and carries merges through: the absorbed
customer's journeys are retracted and its events re-stitched into the survivor; late evidence
moves events to the customers they now belong to the same way. The Faust worker
does the same work split over topics and partitions; this is the same logic in one loop, used by
the story tests, the benchmark's memory figure and anyone replaying a log by hand. It renders
with the worker's renderer (streams.core.render) and reads each record back as its contract model,
validated as the sink validates what it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.events import TouchpointEventBase
from schemas.journeymap import JourneyMap
from schemas.outputs import IdentityLink, Output
from streams.core.devices import Spec, reattribute
from streams.core.fold import CustomerState, absorb, apply, release, retract
from streams.core.identity import IdentityGraph, Sighting
from streams.core.records import Record, record_of, to_ms
from streams.core.render import Document, model_of

Emitted = Output  # journey steps, snapshots, frictions (streams.core.render.model_of) and identity links


def sighting_of(event: TouchpointEventBase) -> Sighting:
    return Sighting(event.event_id, event.channel, event.event_type, tuple(event.identifiers.keys()),
                    to_ms(event.event_time))


@dataclass
class Pipeline:
    """Identity graph plus per-customer states, all in dicts."""

    journey_map: JourneyMap
    owner: dict[str, str] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    devices: dict[str, list[str]] = field(default_factory=dict)
    evidence: dict[str, list[Any]] = field(default_factory=dict)
    customers: dict[str, CustomerState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.graph = IdentityGraph(self.journey_map, self.owner, self.members, self.devices, self.evidence)

    def feed(self, event: TouchpointEventBase) -> list[Emitted]:
        """One validated event in; identity links, steps, snapshots and frictions out."""
        resolution = self.graph.resolve(sighting_of(event))
        out: list[Document | IdentityLink] = list(resolution.links)
        for absorbed, survivor in resolution.merges:
            out += self.merge(absorbed, survivor)
        for customer_id, spec in resolution.moves:
            out += self.move(customer_id, spec)
        out += self.stitch(resolution.customer_id, record_of(event, self.journey_map))
        return [model_of(o) if isinstance(o, Document) else o for o in out]

    def stitch(self, customer_id: str, record: Record) -> list[Document]:
        state, out = apply(self.customers.get(customer_id, CustomerState()), record, customer_id, self.journey_map)
        self.customers[customer_id] = state
        return out

    def merge(self, absorbed: str, survivor: str) -> list[Document]:
        gone, out, records = retract(self.customers.get(absorbed, CustomerState()), absorbed, self.journey_map)
        self.customers[absorbed] = gone
        state, more, _ = absorb(self.customers.get(survivor, CustomerState()), records, gone.revision, survivor,
                                self.journey_map)
        self.customers[survivor] = state
        return out + more

    def move(self, customer_id: str, spec: Spec) -> list[Document]:
        """Late evidence: the customer's events that the spec gives to others go to them."""
        state = self.customers.get(customer_id, CustomerState())
        kept, moved = reattribute(state.events, spec, customer_id)
        if not moved:
            return []
        state, out, _ = release(state, kept, customer_id, self.journey_map)
        self.customers[customer_id] = state
        for target, records in sorted(moved.items()):
            taker, more, _ = absorb(self.customers.get(target, CustomerState()), records, state.revision, target,
                                    self.journey_map)
            self.customers[target] = taker
            out += more
        return out
