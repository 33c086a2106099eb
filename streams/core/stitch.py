"""Streams core, step 3: the per-customer fold `apply(state, record) -> (state, outputs)`.

The customer's state is its revision and its compact event records in event-time order. Every
change bumps the revision; every record sent for it carries the revision as `version`. A
duplicate changes nothing and re-sends the records it takes part in; an event older than the
allowed lateness (judged by received time, streams.core.layout) is kept and sent as a late step
without revising journeys; a merge retracts the
absorbed customer's journeys and re-stitches its events into the survivor's.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import orjson

from schemas.journeymap import JourneyMap
from streams.core.layout import Output, changes, everything, layout_of, of_event
from streams.core.records import EVENT_ID, Record, T, order_key


@dataclass
class CustomerState:
    """A customer's revision and events (compact records, ordered by event time then id)."""

    revision: int = 0
    events: list[Record] = field(default_factory=list)
    merged_into: str = ""  # set once this customer was absorbed: later work goes to the survivor

    def has(self, event_id: str) -> bool:
        return any(r[EVENT_ID] == event_id for r in self.events)

    @property
    def clock_ms(self) -> int:
        return max((r[T] for r in self.events), default=0)


def encode(state: CustomerState) -> bytes:
    return orjson.dumps([state.revision, state.events, state.merged_into])


def decode(blob: bytes | None) -> CustomerState:
    if not blob:
        return CustomerState()
    revision, events, merged_into = orjson.loads(blob)
    return CustomerState(revision, events, merged_into)


def apply(state: CustomerState, record: Record, customer_id: str,
          journey_map: JourneyMap) -> tuple[CustomerState, list[Output]]:
    """Fold one event into a customer: the new state and the records to send."""
    if state.has(record[EVENT_ID]):
        return state, of_event(layout_of(customer_id, state.events, journey_map), record[EVENT_ID], state.revision)
    return _added(state, [record], state.revision, customer_id, journey_map)


def absorb(state: CustomerState, records: list[Record], absorbed_revision: int, customer_id: str,
           journey_map: JourneyMap) -> tuple[CustomerState, list[Output]]:
    """A merge: take the absorbed customer's events into this customer."""
    fresh = [r for r in records if not state.has(r[EVENT_ID])]
    return _added(state, fresh, max(state.revision, absorbed_revision), customer_id, journey_map)


def retract(state: CustomerState, customer_id: str,
            journey_map: JourneyMap) -> tuple[CustomerState, list[Output], list[Record]]:
    """The absorbed side of a merge: withdraw its journeys and frictions, hand over its events."""
    version = state.revision + 1
    retracted = everything(layout_of(customer_id, state.events, journey_map), version, retracted=True)
    return CustomerState(version, []), retracted, state.events


def _added(state: CustomerState, records: list[Record], base_revision: int, customer_id: str,
           journey_map: JourneyMap) -> tuple[CustomerState, list[Output]]:
    if not records:
        return state, []
    events = list(state.events)
    for record in records:
        bisect.insort(events, record, key=order_key)
    new_state = CustomerState(base_revision + 1, events)
    before = layout_of(customer_id, state.events, journey_map)
    return new_state, changes(before, layout_of(customer_id, events, journey_map), new_state.revision)
