"""Streams core: a customer's whole picture at one moment, and the output records it implies.

`Layout` is a pure function of the customer's events: journeys, each event's placement, each
journey's snapshot fields and frictions. The stitcher computes the layout before and after a
change and sends only what differs; this module also turns layout parts into the output models
of schemas/outputs.py (constructed without validation: every value comes from validated events
and this module's own arithmetic, and validation would cost more than the stitching itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.journeymap import JourneyMap
from schemas.outputs import FrictionEvent, JourneySnapshot, JourneyStep
from streams.core.friction import Friction, detect
from streams.core.journeys import NO_PHASE, Journey, cut_journeys, describe, segment_of
from streams.core.records import CHANNEL, EVENT_ID, RECEIVED, Record, T, built, event_of, from_ms, order_key

Output = JourneyStep | JourneySnapshot | FrictionEvent
MS_PER_H = 3_600_000


@dataclass(frozen=True)
class Placement:
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
    for record in sorted(events, key=lambda r: (r[RECEIVED], r[T], r[EVENT_ID])):
        if clock_ms is not None and record[T] < clock_ms - lateness_ms:
            late.add(record[EVENT_ID])
        clock_ms = record[T] if clock_ms is None else max(clock_ms, record[T])
    return late


def layout_of(customer_id: str, events: list[Record], journey_map: JourneyMap) -> Layout:
    """Ordered events -> late ones, journeys, placements, snapshots and frictions."""
    late = late_events(events, journey_map)
    live = [r for r in events if r[EVENT_ID] not in late]
    result = Layout(customer_id, max((r[T] for r in events), default=0), segment_of(live))
    for journey in cut_journeys(customer_id, live, journey_map):
        result.journeys[journey.journey_id] = journey
        result.described[journey.journey_id] = describe(journey, result.clock_ms, journey_map)
        for fid, friction in detect(journey, result.clock_ms, journey_map.friction).items():
            result.frictions[fid] = (journey.journey_id, friction)
        for index, (record, phase) in enumerate(journey.steps):
            result.placements[record[EVENT_ID]] = Placement(journey.journey_id, index, phase)
    for record in events:
        result.records[record[EVENT_ID]] = record
        if record[EVENT_ID] in late:
            result.placements[record[EVENT_ID]] = _late_placement(result, record)
    return result


def _late_placement(layout: Layout, record: Record) -> Placement:
    """A late step goes with the journey it falls in (by time), without revising it."""
    journeys = list(layout.journeys.values())
    if not journeys:
        return Placement("", 0, NO_PHASE, late=True)
    journey = next((j for j in reversed(journeys) if j.started_ms <= record[T]), journeys[0])
    before = [phase for r, phase in journey.steps if order_key(r) < order_key(record)]
    return Placement(journey.journey_id, len(before), before[-1] if before else NO_PHASE, late=True)


def step(layout: Layout, event_id: str, version: int) -> JourneyStep:
    place = layout.placements[event_id]
    return built(JourneyStep, {
        "customer_id": layout.customer_id, "journey_id": place.journey_id, "step_index": place.step_index,
        "phase": place.phase, "late": place.late, "version": version, "event": event_of(layout.records[event_id])})


def snapshot(layout: Layout, journey_id: str, version: int, retracted: bool = False) -> JourneySnapshot:
    d = layout.described[journey_id]
    return built(JourneySnapshot, {
        "journey_id": journey_id, "customer_id": layout.customer_id, "version": version, "retracted": retracted,
        "segment": layout.segment, "started_at": from_ms(d["started_ms"]), "last_event_at": from_ms(d["last_ms"]),
        "events": d["events"], "channels": d["channels"], "channel_switches": d["channel_switches"],
        "first_channel": d["first_channel"],
        "phase_first_at": {p: from_ms(ms) for p, ms in d["phase_first_at"].items()},
        "furthest_phase": d["furthest_phase"], "current_phase": d["current_phase"], "converted": d["converted"],
        "status": d["status"], "friction_count": layout.friction_count(journey_id), "csat_avg": d["csat_avg"],
        # event time, so replays and batch cuts give the same record
        "updated_at": from_ms(d["last_ms"])})


def friction_event(layout: Layout, friction_id: str, version: int, retracted: bool = False) -> FrictionEvent:
    journey_id, f = layout.frictions[friction_id]
    return built(FrictionEvent, {
        "friction_id": friction_id, "customer_id": layout.customer_id, "journey_id": journey_id, "rule": f.rule,
        "touchpoint": f.touchpoint, "channel": f.touchpoint_event[CHANNEL],
        "phase": layout.journeys[journey_id].phase_at(f.touchpoint_event[EVENT_ID]), "severity": f.severity,
        "detected_at": from_ms(f.detected_ms), "measure": f.measure, "threshold": f.threshold,
        "evidence": f.evidence, "version": version, "retracted": retracted})


def changes(old: Layout, new: Layout, version: int) -> list[Output]:
    """Everything that differs between two layouts of one customer, as output records."""
    out: list[Output] = [step(new, eid, version) for eid, place in new.placements.items()
                         if old.placements.get(eid) != place]
    out += [snapshot(old, jid, version, retracted=True) for jid in old.journeys if jid not in new.journeys]
    out += [snapshot(new, jid, version) for jid in new.journeys if _snapshot_key(old, jid) != _snapshot_key(new, jid)]
    out += [friction_event(old, fid, version, retracted=True) for fid in old.frictions if fid not in new.frictions]
    out += [friction_event(new, fid, version) for fid in new.frictions
            if _friction_key(old, fid) != _friction_key(new, fid)]
    return out


def everything(layout: Layout, version: int, retracted: bool = False) -> list[Output]:
    """All current records of a customer (or, retracted, the journeys and frictions withdrawn)."""
    out: list[Output] = [] if retracted else [step(layout, eid, version) for eid in layout.placements]
    out += [snapshot(layout, jid, version, retracted) for jid in layout.journeys]
    out += [friction_event(layout, fid, version, retracted) for fid in layout.frictions]
    return out


def of_event(layout: Layout, event_id: str, version: int) -> list[Output]:
    """The current records an event takes part in (what a duplicate re-sends)."""
    journey_id = layout.placements[event_id].journey_id
    out: list[Output] = [step(layout, event_id, version)]
    if journey_id in layout.journeys:
        out.append(snapshot(layout, journey_id, version))
    out += [friction_event(layout, fid, version) for fid, (jid, _) in layout.frictions.items() if jid == journey_id]
    return out


def _snapshot_key(layout: Layout, journey_id: str) -> tuple[Any, ...] | None:
    if journey_id not in layout.journeys:
        return None
    return layout.segment, layout.friction_count(journey_id), repr(layout.described[journey_id])


def _friction_key(layout: Layout, friction_id: str) -> tuple[Any, ...] | None:
    if friction_id not in layout.frictions:
        return None
    journey_id, f = layout.frictions[friction_id]
    return journey_id, f, layout.journeys[journey_id].phase_at(f.touchpoint_event[EVENT_ID])
