"""Streams core, step 3: the per-customer fold `apply(state, record) -> (state, outputs)`.

The customer's state is its revision and its compact event records in event-time order. Every
change bumps the revision; every record sent for it carries the revision as `version`. A
duplicate changes nothing and re-sends the records it takes part in; an event older than the
allowed lateness (judged by received time, streams.core.layout) is kept and sent as a late step
without revising journeys; a merge retracts the absorbed customer's journeys and re-stitches its
events into the survivor's. `apply_many` folds several events at once (one revision, one layout):
what the worker does with a batch. How a state is stored (its codec) is the adapter's business
(streams.codecs).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from schemas.journeymap import JourneyMap
from streams.core.diff import changes, everything, of_event, rewritten
from streams.core.layout import Layout, layout_of
from streams.core.records import EVENT_ID, Record, T, order_key
from streams.core.render import Document


@dataclass
class CustomerState:
    """A customer's revision and events (compact records, ordered by event time then id)."""

    revision: int = 0
    events: list[Record] = field(default_factory=list)
    merged_into: str = ""  # set once this customer was absorbed: later work goes to the survivor
    # the newest identity move that concerned this customer (streams.core.devices.Spec): events
    # handed to it on the strength of an older one are attributed again by it
    spec: dict[str, Any] | None = None

    @property
    def clock_ms(self) -> int:
        return max((r[T] for r in self.events), default=0)


def apply(state: CustomerState, record: Record, customer_id: str,
          journey_map: JourneyMap) -> tuple[CustomerState, list[Document]]:
    """Fold one event into a customer: the new state and the records to send."""
    new_state, out, _ = apply_many(state, [record], customer_id, journey_map)
    return new_state, out


def apply_many(state: CustomerState, records: list[Record], customer_id: str, journey_map: JourneyMap,
               before: Layout | None = None,
               base_revision: int = 0) -> tuple[CustomerState, list[Document], Layout]:
    """Fold events into a customer at once; returns the state, the records to send, the new layout.

    `before` is the layout of `state` when the caller has it; `base_revision` lifts the revision
    (a merge: the survivor's versions must pass the absorbed customer's).
    """
    before = before if before is not None else layout_of(customer_id, state.events, journey_map)
    known = {r[EVENT_ID] for r in state.events}
    fresh: list[Record] = []
    duplicates: list[str] = []
    for record in records:
        if record[EVENT_ID] in known:
            duplicates.append(record[EVENT_ID])
        else:
            fresh.append(record)
            known.add(record[EVENT_ID])
    if not fresh:
        return state, [o for eid in duplicates for o in of_event(before, eid, state.revision)], before
    events = list(state.events)
    for record in fresh:
        bisect.insort(events, record, key=order_key)
    new_state = CustomerState(max(state.revision, base_revision) + 1, events, state.merged_into, state.spec)
    after = layout_of(customer_id, events, journey_map, before)
    out = changes(before, after, new_state.revision)
    out += [o for eid in duplicates for o in of_event(after, eid, new_state.revision)]
    return new_state, out, after


def absorb(state: CustomerState, records: list[Record], absorbed_revision: int, customer_id: str,
           journey_map: JourneyMap, before: Layout | None = None) -> tuple[CustomerState, list[Document], Layout]:
    """A merge: take the absorbed customer's events into this customer and send all it holds again.

    The revision passes the absorbed customer's (its retractions carry that one), and every record
    of the survivor is re-sent at it (streams.core.diff.rewritten), the events it knew already too.
    """
    before = before if before is not None else layout_of(customer_id, state.events, journey_map)
    if not records:
        return state, [], before
    known = {r[EVENT_ID] for r in state.events}
    events = list(state.events)
    for record in records:
        if record[EVENT_ID] not in known:
            bisect.insort(events, record, key=order_key)
            known.add(record[EVENT_ID])
    new_state = CustomerState(max(state.revision, absorbed_revision) + 1, events, state.merged_into, state.spec)
    after = layout_of(customer_id, events, journey_map, before) if len(events) > len(state.events) else before
    return new_state, rewritten(before, after, new_state.revision), after


def release(state: CustomerState, kept: list[Record], customer_id: str, journey_map: JourneyMap,
            before: Layout | None = None) -> tuple[CustomerState, list[Document], Layout]:
    """Late identity evidence: the customer lets go of the events not in `kept` (they now belong to
    others); its journeys are withdrawn and those of the events it keeps sent again, re-cut."""
    gone, out, _ = retract(state, customer_id, journey_map, before)
    gone.merged_into, gone.spec = state.merged_into, state.spec
    new, more, after = absorb(gone, kept, gone.revision, customer_id, journey_map)
    return new, out + more, after


def retract(state: CustomerState, customer_id: str, journey_map: JourneyMap,
            before: Layout | None = None) -> tuple[CustomerState, list[Document], list[Record]]:
    """The absorbed side of a merge: withdraw its journeys and frictions, hand over its events."""
    version = state.revision + 1
    before = before if before is not None else layout_of(customer_id, state.events, journey_map)
    return CustomerState(version, []), everything(before, version, retracted=True), state.events
