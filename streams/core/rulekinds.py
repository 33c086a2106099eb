"""Streams core, step 4 (the parts): each kind of friction rule compiled into a plain function.

A map's rule (schemas/rules.py) is read once, when the worker starts: its matches, limits,
durations and severity bands become closures over plain values here, so judging a journey never
parses or looks up configuration again. Each compiled rule gets the journey's events it may act
on, in order (streams.core.friction sorts them out), the customer clock and the frictions of the
rules before it, and yields what it finds.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.ids import friction_id_for
from schemas.rules import (
    FEEDBACK_PREFIX,
    Bands,
    EventMatch,
    GapRule,
    OccurrenceRule,
    Severity,
    ThresholdRule,
    number,
    span,
)
from streams.core.records import (
    CHANNEL,
    EVENT_ID,
    EVENT_TYPE,
    FEEDBACK,
    MEASURES,
    PHASE,
    TOUCHPOINT,
    Record,
    T,
)

Test = Callable[[Record], bool]
StaticTest = Callable[[str, str, str, bool], bool]  # (channel, event type, touchpoint, has feedback)
Fired = Mapping[str, list["Friction"]]
Evaluate = Callable[[list[Record], int, Fired], Iterator["Friction"]]
Limits = Mapping[str, float]
OPS: dict[str, Callable[[Any, Any], bool]] = {"above": operator.gt, "at_least": operator.ge,
                                               "below": operator.lt, "at_most": operator.le}


@dataclass(frozen=True)
class Friction:
    """A rule that fired: what the stitcher turns into a FrictionEvent."""

    rule: str
    touchpoint_event: Record
    severity: str
    evidence: tuple[str, ...]
    detected_ms: int
    touchpoint: str
    measure: float | None = None
    threshold: float | None = None

    @property
    def friction_id(self) -> str:
        return friction_id_for(self.rule, self.evidence)


@dataclass(frozen=True)
class Compiled:
    """A rule ready to run: which events it reads (None: all of them) and how it judges them."""

    id: str
    reads: StaticTest | None
    evaluate: Evaluate


def matcher(matches: tuple[EventMatch, ...]) -> Test:
    """An event test: any of the matches holds (no matches: every event)."""
    tests = [_one(m) for m in matches]
    if not tests:
        return lambda r: True
    if len(tests) == 1:
        return tests[0]
    return lambda r: any(test(r) for test in tests)


def _one(match: EventMatch) -> Test:
    channel, types, touchpoints = match.channel, frozenset(match.event_types), frozenset(match.touchpoints)
    measures = tuple((k, tuple(v)) for k, v in match.measures.items())

    def test(r: Record) -> bool:
        if (channel is not None and r[CHANNEL] != channel) or (types and r[EVENT_TYPE] not in types) or (
                touchpoints and r[TOUCHPOINT] not in touchpoints):
            return False
        return not measures or all(r[MEASURES].get(name) in allowed for name, allowed in measures)
    return test


def static(matches: tuple[EventMatch, ...], needs_feedback: bool = False) -> StaticTest:
    """What an event's channel, type, touchpoint and feedback alone say: may the rule read it?"""
    parts = [(m.channel, frozenset(m.event_types), frozenset(m.touchpoints)) for m in matches] or [
        (None, frozenset(), frozenset())]

    def test(channel: str, event_type: str, touchpoint: str, has_feedback: bool) -> bool:
        return (has_feedback or not needs_feedback) and any(
            (c is None or c == channel) and (not ts or event_type in ts) and (not tps or touchpoint in tps)
            for c, ts, tps in parts)
    return test


def getter(measure: str) -> Callable[[Record], Any]:
    if measure.startswith(FEEDBACK_PREFIX):
        name = measure.removeprefix(FEEDBACK_PREFIX)
        return lambda r: (r[FEEDBACK] or {}).get(name)
    return lambda r: r[MEASURES].get(measure)


def same_key(names: tuple[str, ...]) -> Callable[[Record], tuple[Any, ...] | None]:
    """The values of the `same` measures (None when one is missing: such an event pairs with none)."""
    def key(r: Record) -> tuple[Any, ...] | None:
        values = tuple(r[MEASURES].get(n) for n in names)
        return None if None in values else values
    return key


def severity_of(spec: Severity | Bands, resolve: Callable[[Any], float]) -> Callable[[Any], str]:
    """Fixed, or the first band whose comparison holds for the value (the default without a value)."""
    if isinstance(spec, str):
        fixed: str = spec
        return lambda value: fixed
    bands = [(OPS[band.comparison[0]], resolve(band.comparison[1]), band.severity) for band in spec.bands]
    default: str = spec.default

    def pick(value: Any) -> str:
        if value is None:
            return default
        return next((severity for op, limit, severity in bands if op(value, limit)), default)
    return pick


def touchpoint_of(spec: str) -> Callable[[Record], str]:
    if spec == "event":
        return lambda r: str(r[TOUCHPOINT])
    if spec == "about":
        return lambda r: str((r[FEEDBACK] or {}).get("about_touchpoint") or r[TOUCHPOINT])
    return lambda r: spec


def threshold(rule: ThresholdRule, limits: Limits) -> Compiled:
    comparison, spec = rule.comparison
    op, limit = OPS[comparison], number(spec, limits)
    match, where = matcher(rule.when), touchpoint_of(rule.touchpoint)
    severity = severity_of(rule.severity, lambda s: number(s, limits))
    rule_id = rule.id
    # The events come sorted by channel, type and touchpoint already: only measure conditions remain.
    filtered = any(m.measures for m in rule.when)
    on_feedback = rule.measure.startswith(FEEDBACK_PREFIX)
    at, name = (FEEDBACK, rule.measure.removeprefix(FEEDBACK_PREFIX)) if on_feedback else (MEASURES, rule.measure)

    def evaluate(events: list[Record], clock_ms: int, fired: Fired) -> Iterator[Friction]:
        for r in events:
            value = (r[at] or {}).get(name)
            if value is not None and op(value, limit) and (not filtered or match(r)):
                yield Friction(rule_id, r, severity(value), (r[EVENT_ID],), r[T], where(r), value, limit)
    reads = static(rule.when, on_feedback) if rule.when or on_feedback else None
    return Compiled(rule.id, reads, evaluate)


def occurrence(rule: OccurrenceRule, limits: Limits) -> Compiled:
    match, where = matcher(rule.when), touchpoint_of(rule.touchpoint)
    measure_of = getter(rule.measure) if rule.measure else (lambda r: None)
    severity = severity_of(rule.severity, lambda s: number(s, limits))
    rule_id = rule.id

    def evaluate(events: list[Record], clock_ms: int, fired: Fired) -> Iterator[Friction]:
        for r in events:
            if match(r):
                value = measure_of(r)
                measured = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
                yield Friction(rule_id, r, severity(measured), (r[EVENT_ID],), r[T], where(r), measured)
    return Compiled(rule.id, static(rule.when), evaluate)


def gap(rule: GapRule, limits: Limits) -> Compiled:
    length = span(rule.longer_than, limits)
    match, where, until = matcher(rule.when), touchpoint_of(rule.touchpoint), rule.until_phase
    severity = severity_of(rule.severity, lambda s: span(s, limits).ms)
    rule_id, filtered = rule.id, bool(rule.when)

    def evaluate(events: list[Record], clock_ms: int, fired: Fired) -> Iterator[Friction]:
        done, before = False, None
        for after in events:
            if filtered and not match(after):
                continue
            if before is not None:
                done = done or (until is not None and before[PHASE] == until)
                elapsed = after[T] - before[T]
                if not done and elapsed > length.ms:
                    yield Friction(rule_id, after, severity(elapsed), (before[EVENT_ID], after[EVENT_ID]), after[T],
                                   where(after), elapsed / length.unit_ms, length.value)
            before = after
    return Compiled(rule.id, static(rule.when) if filtered else None, evaluate)
