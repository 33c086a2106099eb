"""Streams core: a customer's whole picture at one moment (building it; streams.core.diff compares two).

`Layout` is a pure function of the customer's events: journeys, each event's placement, each
journey's snapshot fields and frictions. The stitcher computes the layout before and after a
change and sends only what differs (streams.core.diff, rendered by streams.core.render); the
layout after a change reuses the previous layout's work for every journey whose steps did not
change and whose clock-dependent answers cannot have changed (`layout_of(..., previous=...)`), so
a late event costs one journey, not the customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

from schemas.journeymap import JourneyMap
from streams.core.boundaries import NO_PHASE, Journey, continue_journeys, cut_journeys, describe, segment_of
from streams.core.friction import Friction, clock_window_ms, detect
from streams.core.records import EVENT_ID, MS_PER_DAY, MS_PER_H, RECEIVED, SEGMENT, Record, T, order_key


class Placement(NamedTuple):
    """Where an event sits (a tuple, so comparing two layouts' placements runs in C)."""

    journey_id: str
    step_index: int
    phase: str
    late: bool = False


@dataclass
class Layout:
    customer_id: str
    clock_ms: int = 0
    segment: str = "unknown"
    journeys: dict[str, Journey] = field(default_factory=dict)
    described: dict[str, dict[str, Any]] = field(default_factory=dict)
    frictions: dict[str, tuple[str, Friction]] = field(default_factory=dict)  # id -> (journey_id, friction)
    placements: dict[str, Placement] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    late: set[str] = field(default_factory=set)  # ids of the late events
    received_ms: int = 0  # the latest received time among the events

    def friction_count(self, journey_id: str) -> int:
        return sum(1 for jid, _ in self.frictions.values() if jid == journey_id)


def late_events(events: list[Record], journey_map: JourneyMap) -> set[str]:
    """Events older than the allowed lateness behind the customer's clock when they arrived.

    "When it arrived" is the event's received time: the clock is the latest event time among the
    customer's events received no later than it, so the answer does not depend on the order in
    which the worker happens to read partitions.
    """
    lateness_ms = journey_map.journey.allowed_lateness_hours * MS_PER_H
    late, clock_ms = set(), None
    for record in sorted(events, key=_arrival_key):
        if clock_ms is not None and record[T] < clock_ms - lateness_ms:
            late.add(record[EVENT_ID])
        clock_ms = record[T] if clock_ms is None else max(clock_ms, record[T])
    return late


def layout_of(customer_id: str, events: list[Record], journey_map: JourneyMap,
              previous: Layout | None = None) -> Layout:
    """Ordered events -> late ones, journeys, placements, snapshots and frictions.

    With `previous` (an earlier layout of the same customer), journeys it already described are
    taken over when `_reusable` says the result would be the same.
    """
    if previous is not None and previous.records and not previous.late:
        appended = _appended(customer_id, events, journey_map, previous)
        if appended is not None:
            return appended
    late = late_events(events, journey_map)
    live = [r for r in events if r[EVENT_ID] not in late]
    result = Layout(customer_id, max((r[T] for r in events), default=0), segment_of(live), late=late,
                    received_ms=max((r[RECEIVED] for r in events), default=0))
    journeys = cut_journeys(customer_id, live, journey_map)
    _describe(result, journeys, previous, journey_map)
    for journey in journeys:
        for index, (record, phase) in enumerate(journey.steps):
            result.placements[record[EVENT_ID]] = Placement(journey.journey_id, index, phase)
    for record in events:
        result.records[record[EVENT_ID]] = record
        if record[EVENT_ID] in late:
            result.placements[record[EVENT_ID]] = _late_placement(result, record)
    return result


def _appended(customer_id: str, events: list[Record], journey_map: JourneyMap, previous: Layout) -> Layout | None:
    """`layout_of` when events only came after all the previous layout's, in event time and in
    arrival, and none of them is late (the usual case): the earlier journeys, placements and
    records are taken over as they are, and only the last journey is cut further. None when
    the events are not such a continuation (then the whole layout is recomputed)."""
    known = len(previous.records)
    fresh = events[known:]
    if not fresh or list(map(itemgetter(EVENT_ID), events[:known])) != list(previous.records):
        return None  # not the previous events followed by later ones
    clock_ms, lateness_ms = previous.clock_ms, journey_map.journey.allowed_lateness_hours * MS_PER_H
    if min(r[RECEIVED] for r in fresh) < previous.received_ms:
        return None  # arrived before some earlier event: lateness must be judged over all of them
    for record in sorted(fresh, key=_arrival_key):  # as late_events would, from the previous clock on
        if record[T] < clock_ms - lateness_ms:
            return None
        clock_ms = max(clock_ms, record[T])
    journeys = list(previous.journeys.values())
    last = journeys[-1]
    journeys[-1] = Journey(last.journey_id, list(last.steps), dict(last.phase_first_at))
    journeys = continue_journeys(customer_id, journeys, fresh, journey_map)
    segment = next((r[SEGMENT] for r in reversed(fresh) if r[SEGMENT]), previous.segment)
    result = Layout(customer_id, clock_ms, segment, placements=dict(previous.placements),
                    records=dict(previous.records), received_ms=max(previous.received_ms, *(r[RECEIVED] for r in fresh)))
    _describe(result, journeys, previous, journey_map)
    placed = len(last.steps)  # steps of the previous last journey are placed already
    for journey in journeys[len(previous.journeys) - 1:]:  # that journey, then the new ones
        for index, (record, phase) in enumerate(journey.steps[placed:], start=placed):
            result.placements[record[EVENT_ID]] = Placement(journey.journey_id, index, phase)
        placed = 0
    for record in fresh:
        result.records[record[EVENT_ID]] = record
    return result


def _describe(result: Layout, journeys: list[Journey], previous: Layout | None, journey_map: JourneyMap) -> None:
    """Each journey into `result` with its snapshot fields and frictions: taken over from
    `previous` when `_reusable` says they would be the same, worked out otherwise."""
    horizon_ms = clock_horizon_ms(journey_map)
    by_journey = _frictions_by_journey(previous) if previous is not None else {}
    for journey in journeys:
        jid = journey.journey_id
        if previous is not None and _reusable(previous, journey, result.clock_ms, horizon_ms):
            result.journeys[jid] = previous.journeys[jid]
            result.described[jid] = previous.described[jid]
            result.frictions.update(by_journey.get(jid, {}))
        else:
            result.journeys[jid] = journey
            result.described[jid] = describe(journey, result.clock_ms, journey_map)
            for fid, friction in detect(journey, result.clock_ms, journey_map).items():
                result.frictions[fid] = (jid, friction)


def _arrival_key(record: Record) -> tuple[int, int, str]:
    return record[RECEIVED], record[T], record[EVENT_ID]


def clock_horizon_ms(journey_map: JourneyMap) -> int:
    """How far past a journey's last event the customer clock can still change its answers.

    Every clock-dependent rule (status closed/stalled, the map's absence rules) asks
    whether the clock passed some event time of the journey plus a window; past the largest
    window after the journey's last event, every answer is settled.
    """
    limits, policy = journey_map.friction, journey_map.journey
    return int(max(policy.inactivity_gap_days * MS_PER_DAY, limits.stalled_days * MS_PER_DAY,
                   clock_window_ms(journey_map))) + 1


def _reusable(previous: Layout, journey: Journey, clock_ms: int, horizon_ms: int) -> bool:
    """Same steps, and the clock either unchanged or past the horizon in both layouts."""
    old = previous.journeys.get(journey.journey_id)
    if old is None or old.steps != journey.steps:
        return False
    settled_ms = journey.last_ms + horizon_ms
    return previous.clock_ms == clock_ms or (previous.clock_ms > settled_ms and clock_ms > settled_ms)


def _frictions_by_journey(layout: Layout) -> dict[str, dict[str, tuple[str, Friction]]]:
    grouped: dict[str, dict[str, tuple[str, Friction]]] = {}
    for fid, entry in layout.frictions.items():
        grouped.setdefault(entry[0], {})[fid] = entry
    return grouped


def _late_placement(layout: Layout, record: Record) -> Placement:
    """A late step goes with the journey it falls in (by time), without revising it."""
    journeys = list(layout.journeys.values())
    if not journeys:
        return Placement("", 0, NO_PHASE, late=True)
    journey = next((j for j in reversed(journeys) if j.started_ms <= record[T]), journeys[0])
    before = [phase for r, phase in journey.steps if order_key(r) < order_key(record)]
    return Placement(journey.journey_id, len(before), before[-1] if before else NO_PHASE, late=True)
