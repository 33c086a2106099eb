"""Producers stage, simulator core: the ground truth, known by construction.

For each person: the identifiers they use, their events, their journeys (phases reached through
the journey map's phase rules, furthest phase, conversion, channels) and the friction injected,
each with its rule and evidence event ids exactly as docs/journeys.md defines them. Totals give
the funnel ("reached at or beyond" a phase, drop-off at the furthest phase) and friction counts.
The stream processor's output is compared against this.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from operator import attrgetter, ne

from pydantic import AwareDatetime, BaseModel, ConfigDict

from producers.simulator.history import History
from producers.simulator.timeline import Injection, Touch
from producers.simulator.wire import defaults
from schemas.channels import channels
from schemas.ids import friction_id_for
from schemas.journeymap import CURRENT, JourneyMap


class Truth(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FrictionTruth(Truth):
    friction_id: str
    rule: str
    journey: int
    touchpoint: str
    phase: str | None
    severity: str
    evidence: tuple[str, ...]


class JourneyTruth(Truth):
    index: int
    started_at: AwareDatetime
    last_event_at: AwareDatetime
    event_ids: tuple[str, ...]
    channels: tuple[str, ...]
    channel_switches: int
    phases_reached: tuple[str, ...]
    phase_first_at: dict[str, AwareDatetime]
    furthest_phase: str | None
    converted: bool


class PersonTruth(Truth):
    person_id: str
    persona: str
    segment: str
    identifiers: tuple[str, ...]
    shared_identifiers: tuple[str, ...]
    event_ids: tuple[str, ...]
    journeys: tuple[JourneyTruth, ...]
    friction: tuple[FrictionTruth, ...]


class FunnelStep(Truth):
    phase: str
    reached: int
    dropped: int


class Totals(Truth):
    customers: int
    journeys: int
    events: int
    deliveries: int
    duplicates: int
    malformed: int
    converted_journeys: int
    journeys_without_phase: int
    shared_devices: int
    friction_by_rule: dict[str, int]
    funnel: tuple[FunnelStep, ...]


class IncidentTruth(Truth):
    """An incident injected by a scenario (producers.simulator.incidents)."""

    name: str
    kind: str
    touchpoint: str
    what: str
    start: AwareDatetime
    end: AwareDatetime
    dimension: str
    value: str
    share: float
    customers: int | None  # None: not counted (`journeys simulate` writes people in several processes)
    events: int | None


class GroundTruth(Truth):
    seed: int
    start: AwareDatetime
    days: int
    persons: tuple[PersonTruth, ...]
    totals: Totals
    incidents: tuple[IncidentTruth, ...] = ()


BY_TIME_THEN_ID = attrgetter("time", "event_id")  # a journey's touches in the order the pipeline sorts them


def friction_id(rule: str, evidence: list[str] | tuple[str, ...]) -> str:
    """The id the contract gives a friction (schemas.ids), so the truth can be compared row by row."""
    return friction_id_for(rule, evidence)


class PhaseLookup:
    """`journey_map.phase_for` of a touch, remembered per (channel, event type, touchpoint, and the
    measures the phase rules read): a few dozen distinct answers for a whole simulation."""

    def __init__(self, journey_map: JourneyMap) -> None:
        self.journey_map = journey_map
        self.measure_names = tuple(sorted({name for rule in journey_map.phase_rules for name in rule.measures}))
        self._measures = {name: defaults(c.measures) for name, c in channels().items()}
        self._known: dict[tuple[object, ...], str] = {}

    def __call__(self, touch: Touch) -> str:
        key: tuple[object, ...] = (touch.channel, touch.event_type, touch.touchpoint)
        if self.measure_names:  # the shipped map's phase rules read none
            measures = self._measures[touch.channel]  # as the event's model has them: defaults filled
            key += tuple([touch.measures.get(name, measures.get(name)) for name in self.measure_names])
        phase = self._known.get(key)
        if phase is None:
            phase = self._known[key] = self.journey_map.phase_for(
                touch.channel, touch.event_type, touch.touchpoint, {**self._measures[touch.channel], **touch.measures})
        return phase


def person_truth(story: History, journey_map: JourneyMap, lookup: PhaseLookup | None = None) -> PersonTruth:
    person = story.person
    journeys, friction = [], []
    for index, (touches, injected) in enumerate(zip(story.journeys, story.injections, strict=True)):
        ordered = sorted(touches, key=BY_TIME_THEN_ID)
        phases = walk_phases(ordered, journey_map, lookup)
        journeys.append(journey_truth(index, ordered, phases, journey_map))
        friction += [friction_truth(index, i, ordered, phases, journey_map) for i in injected]
    keys = {f"{kind}:{value}" for kind, value in {pair for touches in story.journeys for t in touches
                                                  for pair in t.identifiers.items()}}
    shared = {f"anonymous_id:{person.shared_device}"} & keys
    has_segment = any(t.segment for touches in story.journeys for t in touches)
    return PersonTruth(
        person_id=person.person_id, persona=person.persona, segment=person.persona if has_segment else "unknown",
        identifiers=tuple(sorted(keys - shared)), shared_identifiers=tuple(sorted(shared)),
        event_ids=tuple(e for j in journeys for e in j.event_ids), journeys=tuple(journeys),
        friction=tuple(sorted(friction, key=attrgetter("journey", "rule", "friction_id"))))


def walk_phases(touches: list[Touch], journey_map: JourneyMap, lookup: PhaseLookup | None = None) -> list[str | None]:
    """The journey's phase after each event: the matched phase, or the current one."""
    phase_of = lookup or PhaseLookup(journey_map)
    current: str | None = None
    out = []
    for touch in touches:
        phase = phase_of(touch)
        current = current if phase == CURRENT else phase
        out.append(current)
    return out


def journey_truth(index: int, ordered: list[Touch], phases: list[str | None], journey_map: JourneyMap) -> JourneyTruth:
    first_at: dict[str, datetime] = {}
    previous: str | None = None
    for touch, phase in zip(ordered, phases, strict=True):
        if phase is not None and phase != previous:
            first_at.setdefault(phase, touch.time)
        previous = phase
    reached = tuple(p for p in journey_map.phase_ids if p in first_at)
    visited = [t.channel for t in ordered]
    switches = sum(map(ne, visited, visited[1:]))
    return JourneyTruth(index=index, started_at=ordered[0].time, last_event_at=ordered[-1].time,
                        event_ids=tuple([t.event_id for t in ordered]), channels=tuple(dict.fromkeys(visited)),
                        channel_switches=switches,
                        phases_reached=reached, phase_first_at=first_at,
                        furthest_phase=reached[-1] if reached else None, converted="purchase" in reached)


def friction_truth(index: int, injection: Injection, ordered: list[Touch], phases: list[str | None],
                   journey_map: JourneyMap) -> FrictionTruth:
    subject, evidence = injection.subject, injection.evidence
    if injection.stall_end is not None:
        at = next(i for i, t in enumerate(ordered) if t.time >= injection.stall_end)
        subject, evidence = ordered[at], [ordered[at - 1], ordered[at]]
    assert subject is not None
    ids = tuple(sorted(t.event_id for t in evidence))
    phase = phases[next(i for i, t in enumerate(ordered) if t is subject)]
    return FrictionTruth(friction_id=friction_id(injection.rule, ids), rule=injection.rule, journey=index,
                         touchpoint=injection.touchpoint or subject.touchpoint, phase=phase,
                         severity=severity(injection.rule, subject, journey_map), evidence=ids)


def severity(rule: str, subject: Touch, journey_map: JourneyMap) -> str:
    limits, m = journey_map.friction, subject.measures
    if rule == "long_wait":
        return "high" if m["wait_s"] > 2 * limits.call_wait_s else "medium"
    if rule == "transfers":
        return "high" if m["transfers"] >= limits.transfers + 2 else "medium"
    if rule == "low_csat":
        return "high" if (subject.feedback or {}).get("csat") == 1 else "medium"
    if rule == "channel_hop":
        return "high"
    return "low" if rule in ("nps_detractor", "poor_navigation", "stalled") else "medium"


def totals(persons: list[PersonTruth], journey_map: JourneyMap, deliveries: int, duplicates: int,
           malformed: int) -> Totals:
    journeys = [j for p in persons for j in p.journeys]
    furthest = Counter(j.furthest_phase for j in journeys)
    funnel, beyond = [], 0
    for phase in reversed(journey_map.phase_ids):
        beyond += furthest[phase]
        funnel.append(FunnelStep(phase=phase, reached=beyond, dropped=furthest[phase]))
    by_rule = Counter(f.rule for p in persons for f in p.friction)
    shared = {k for p in persons for k in p.shared_identifiers}
    return Totals(customers=len(persons), journeys=len(journeys), events=sum(len(p.event_ids) for p in persons),
                  deliveries=deliveries, duplicates=duplicates, malformed=malformed,
                  converted_journeys=sum(j.converted for j in journeys), journeys_without_phase=furthest[None],
                  shared_devices=len(shared), friction_by_rule=dict(sorted(by_rule.items())),
                  funnel=tuple(reversed(funnel)))

