"""Streams core: a customer's whole picture at one moment, and the output records it implies.

`Layout` is a pure function of the customer's events: journeys, each event's placement, each
journey's snapshot fields and frictions. The stitcher computes the layout before and after a
change and sends only what differs; the layout after a change reuses the previous layout's work
for every journey whose steps did not change and whose clock-dependent answers cannot have
changed (`layout_of(..., previous=...)`), so a late event costs one journey, not the customer; this module also turns layout parts into the output models
of schemas/outputs.py (constructed without validation: every value comes from validated events
and this module's own arithmetic, and validation would cost more than the stitching itself).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Generic, NamedTuple, TypeVar

from schemas.journeymap import JourneyMap
from schemas.outputs import FrictionEvent, JourneySnapshot, JourneyStep
from schemas.trusted import built
from streams.core.friction import Friction, clock_window_ms, detect
from streams.core.journeys import NO_PHASE, Journey, continue_journeys, cut_journeys, describe, segment_of
from streams.core.records import CHANNEL, EVENT_ID, RECEIVED, SEGMENT, Record, T, event_of, from_ms, order_key

Output = JourneyStep | JourneySnapshot | FrictionEvent
MS_PER_H = 3_600_000
MS_PER_DAY = 86_400_000


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


Out = TypeVar("Out")


@dataclass(frozen=True)
class Renderer(Generic[Out]):
    """How layout parts become output records: models (MODELS) or documents (streams.core.documents)."""

    step: Callable[[Layout, str, int], Out]
    snapshot: Callable[[Layout, str, int, bool], Out]
    friction: Callable[[Layout, str, int, bool], Out]


def step(layout: Layout, event_id: str, version: int) -> JourneyStep:
    place = layout.placements[event_id]
    return built(JourneyStep, {
        "customer_id": layout.customer_id, "journey_id": place.journey_id, "step_index": place.step_index,
        "phase": place.phase, "late": place.late, "version": version, "event": event_of(layout.records[event_id])})


def snapshot_parts(layout: Layout, journey_id: str, version: int, retracted: bool) -> dict[str, Any]:
    """A snapshot's field values (datetimes as datetime objects)."""
    d = layout.described[journey_id]
    return {
        "journey_id": journey_id, "customer_id": layout.customer_id, "version": version, "retracted": retracted,
        "segment": layout.segment, "started_at": from_ms(d["started_ms"]), "last_event_at": from_ms(d["last_ms"]),
        "events": d["events"], "channels": d["channels"], "channel_switches": d["channel_switches"],
        "first_channel": d["first_channel"],
        "phase_first_at": {p: from_ms(ms) for p, ms in d["phase_first_at"].items()},
        "furthest_phase": d["furthest_phase"], "current_phase": d["current_phase"], "converted": d["converted"],
        "status": d["status"], "friction_count": layout.friction_count(journey_id), "csat_avg": d["csat_avg"],
        # event time, so replays and batch cuts give the same record
        "updated_at": from_ms(d["last_ms"])}


def snapshot(layout: Layout, journey_id: str, version: int, retracted: bool = False) -> JourneySnapshot:
    return built(JourneySnapshot, snapshot_parts(layout, journey_id, version, retracted))


def friction_parts(layout: Layout, friction_id: str, version: int, retracted: bool) -> dict[str, Any]:
    """A friction event's field values (datetimes as datetime objects)."""
    journey_id, f = layout.frictions[friction_id]
    return {
        "friction_id": friction_id, "customer_id": layout.customer_id, "journey_id": journey_id, "rule": f.rule,
        "touchpoint": f.touchpoint, "channel": f.touchpoint_event[CHANNEL],
        "phase": layout.journeys[journey_id].phase_at(f.touchpoint_event[EVENT_ID]), "severity": f.severity,
        "detected_at": from_ms(f.detected_ms), "measure": f.measure, "threshold": f.threshold,
        "evidence": f.evidence, "version": version, "retracted": retracted}


def friction_event(layout: Layout, friction_id: str, version: int, retracted: bool = False) -> FrictionEvent:
    return built(FrictionEvent, friction_parts(layout, friction_id, version, retracted))


MODELS: Renderer[Output] = Renderer(step, snapshot, friction_event)


def changes(old: Layout, new: Layout, version: int, render: Renderer[Out]) -> list[Out]:
    """Everything that differs between two layouts of one customer, as output records."""
    out = [render.step(new, eid, version) for eid, place in new.placements.items() if old.placements.get(eid) != place]
    out += [render.snapshot(old, jid, version, True) for jid in old.journeys if jid not in new.journeys]
    counts = (_friction_counts(old), _friction_counts(new))
    out += [render.snapshot(new, jid, version, False) for jid in new.journeys
            if _snapshot_changed(old, new, jid, counts)]
    out += [render.friction(old, fid, version, True) for fid in old.frictions if fid not in new.frictions]
    out += [render.friction(new, fid, version, False) for fid in new.frictions
            if _friction_key(old, fid) != _friction_key(new, fid)]
    return out


def everything(layout: Layout, version: int, render: Renderer[Out], retracted: bool = False) -> list[Out]:
    """All current records of a customer (or, retracted, the journeys and frictions withdrawn)."""
    out = [] if retracted else [render.step(layout, eid, version) for eid in layout.placements]
    out += [render.snapshot(layout, jid, version, retracted) for jid in layout.journeys]
    out += [render.friction(layout, fid, version, retracted) for fid in layout.frictions]
    return out


def rewritten(old: Layout, new: Layout, version: int, render: Renderer[Out]) -> list[Out]:
    """Every current record of `new` at `version`, with what left `old` retracted: a survivor after a merge.

    Records move between customers on a merge (steps by event id, frictions by rule and evidence),
    and the absorbed customer withdrew its copies at its own version: the survivor's copies must
    all be sent again above it, also those it held before (a duplicate delivery, or a replay after
    a crash, can bring an absorbed customer's event to the survivor first).
    """
    out = [render.snapshot(old, jid, version, True) for jid in old.journeys if jid not in new.journeys]
    out += [render.friction(old, fid, version, True) for fid in old.frictions if fid not in new.frictions]
    return out + everything(new, version, render)


def of_event(layout: Layout, event_id: str, version: int, render: Renderer[Out]) -> list[Out]:
    """The current records an event takes part in (what a duplicate re-sends)."""
    journey_id = layout.placements[event_id].journey_id
    out = [render.step(layout, event_id, version)]
    if journey_id in layout.journeys:
        out.append(render.snapshot(layout, journey_id, version, False))
    out += [render.friction(layout, fid, version, False) for fid, (jid, _) in layout.frictions.items()
            if jid == journey_id]
    return out


def _snapshot_changed(old: Layout, new: Layout, journey_id: str, counts: tuple[Counter[str], Counter[str]]) -> bool:
    if journey_id not in old.journeys:
        return True
    described_old, described_new = old.described[journey_id], new.described[journey_id]
    return (old.segment != new.segment or counts[0][journey_id] != counts[1][journey_id]
            or (described_old is not described_new and described_old != described_new))


def _friction_counts(layout: Layout) -> Counter[str]:
    return Counter(jid for jid, _ in layout.frictions.values())


def _friction_key(layout: Layout, friction_id: str) -> tuple[Any, ...] | None:
    if friction_id not in layout.frictions:
        return None
    journey_id, f = layout.frictions[friction_id]
    return journey_id, f, layout.journeys[journey_id].phase_at(f.touchpoint_event[EVENT_ID])
