"""Streams core, step 4: friction (pain points) from the journey map's rules, as a pure function.

The rules are configuration (`friction_rules:` in the journey map, schemas/rules.py, documented in
docs/journeys.md); this module is their interpreter. A map's rules are compiled once, the first
time a map is seen, into plain closures (streams.core.rulekinds, streams.core.ruletimes) and a
table that says which rules read which kind of event. The stitcher calls `detect` for every journey
a batch changes and retracts the frictions that no longer hold, so the result never depends on the
order events arrived in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.journeymap import JourneyMap
from schemas.rules import (
    AbsenceRule,
    GapRule,
    LoopRule,
    OccurrenceRule,
    RepetitionRule,
    SequenceRule,
    ThresholdRule,
    span,
)
from streams.core.boundaries import Journey
from streams.core.records import CHANNEL, EVENT_TYPE, FEEDBACK, TOUCHPOINT, Record
from streams.core.rulekinds import Compiled, Friction, gap, occurrence, threshold
from streams.core.ruletimes import absence, loop, repetition, sequence

__all__ = ["Friction", "RuleSet", "clock_window_ms", "detect", "rules_of"]

COMPILERS: dict[type, Callable[[Any, dict[str, float]], Compiled]] = {
    ThresholdRule: threshold, OccurrenceRule: occurrence, AbsenceRule: absence, SequenceRule: sequence,
    LoopRule: loop, RepetitionRule: repetition, GapRule: gap}
# Event types and touchpoints are validated, but the table of which rules read which kind of event
# is still forgotten when it grows this big, so no input can grow the worker's memory through it.
MAX_REMEMBERED_KINDS = 10_000
EventKind = tuple[str, str, str, bool]  # channel, event type, touchpoint, has feedback


class RuleSet:
    """A map's rules compiled, in map order, with the table of which rules read which events."""

    def __init__(self, journey_map: JourneyMap) -> None:
        limits = journey_map.friction.model_dump()
        self.rules = tuple(COMPILERS[type(rule)](rule, limits) for rule in journey_map.friction_rules)
        # Only rules other rules build on (`after_rule`) keep their frictions for the later ones.
        self.referenced = frozenset(after for rule in journey_map.friction_rules
                                    if (after := getattr(rule, "after_rule", None)) is not None)
        self._readers: dict[EventKind, tuple[int, ...]] = {}
        # The longest window an absence rule waits on the customer clock for (0 without any).
        self.clock_window_ms = max((span(r.within, limits).ms for r in journey_map.friction_rules
                                    if isinstance(r, AbsenceRule)), default=0.0)

    def readers(self, kind: EventKind) -> tuple[int, ...]:
        known = self._readers.get(kind)
        if known is None:
            if len(self._readers) >= MAX_REMEMBERED_KINDS:
                self._readers.clear()
            known = self._readers[kind] = tuple(i for i, rule in enumerate(self.rules)
                                                if rule.reads is not None and rule.reads(*kind))
        return known

    def sort(self, events: list[Record]) -> list[list[Record]]:
        """Each rule's events, in order, in one pass: a rule reading every event shares the list."""
        subsets: list[list[Record]] = [events if rule.reads is None else [] for rule in self.rules]
        readers, known = self.readers, self._readers
        for r in events:
            # A record's feedback is None or says something (schemas.events.Feedback).
            kind = (r[CHANNEL], r[EVENT_TYPE], r[TOUCHPOINT], r[FEEDBACK] is not None)
            slots = known.get(kind)
            for i in readers(kind) if slots is None else slots:
                subsets[i].append(r)
        return subsets


_RULE_SETS: dict[int, tuple[JourneyMap, RuleSet]] = {}


def rules_of(journey_map: JourneyMap) -> RuleSet:
    """The map's compiled rules: compiled the first time this map is seen, then reused."""
    known = _RULE_SETS.get(id(journey_map))
    if known is None or known[0] is not journey_map:
        known = _RULE_SETS[id(journey_map)] = (journey_map, RuleSet(journey_map))
    return known[1]


def detect(journey: Journey, clock_ms: int, journey_map: JourneyMap) -> dict[str, Friction]:
    """Every friction that holds for this journey at the customer's clock, by friction id."""
    rule_set = rules_of(journey_map)
    fired: dict[str, list[Friction]] = {}
    found: dict[str, Friction] = {}
    referenced = rule_set.referenced
    for rule, events in zip(rule_set.rules, rule_set.sort([record for record, _ in journey.steps]), strict=True):
        # No kind finds anything in no events; most journeys give most rules none: skip them.
        frictions = list(rule.evaluate(events, clock_ms, fired)) if events else []
        if referenced and rule.id in referenced:
            fired[rule.id] = frictions
        for friction in frictions:
            found[friction.friction_id] = friction
    return found


def clock_window_ms(journey_map: JourneyMap) -> float:
    """The longest window a rule waits on the customer clock for (absence rules); 0 without any.
    Asked for every layout the stitcher computes: worked out once, with the rules."""
    return rules_of(journey_map).clock_window_ms
