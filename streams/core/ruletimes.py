"""Streams core, step 4 (the parts): the friction rule kinds that relate events in time.

Absence (A not followed by B), sequence (A then B), loop (back along an ordered path) and
repetition (the same event N times), each compiled once into a closure over plain values, like the
single-event kinds of streams.core.rulekinds. Times are epoch milliseconds; a friction reports its
durations in the unit its rule was written in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from schemas.rules import AbsenceRule, LoopRule, RepetitionRule, SequenceRule, number, span
from streams.core.records import EVENT_ID, Record, T
from streams.core.rulekinds import (
    Compiled,
    Fired,
    Friction,
    Limits,
    matcher,
    same_key,
    severity_of,
    static,
    touchpoint_of,
)


def absence(rule: AbsenceRule, limits: Limits) -> Compiled:
    """Each `first` (each attempt's first, with group_within) with no `then` at or after it within the window,
    once the customer clock is past the window (or the `then` came late)."""
    window = span(rule.within, limits)
    group_ms = span(rule.group_within, limits).ms if rule.group_within else None
    is_first, is_then, key_of = matcher(rule.first), matcher(rule.then), same_key(rule.same)
    where, rule_id, same, report = touchpoint_of(rule.touchpoint), rule.id, bool(rule.same), rule.report_delay
    severity = severity_of(rule.severity, lambda s: span(s, limits).ms)

    def answer(a: Record, thens: list[Record]) -> Record | None:
        key = key_of(a) if same else None
        if same and key is None:
            return None
        return next((b for b in thens if b[T] >= a[T] and b is not a and (not same or key_of(b) == key)), None)

    def evaluate(events: list[Record], clock_ms: int, fired: Fired) -> Iterator[Friction]:
        thens = [r for r in events if is_then(r)]
        previous: Record | None = None
        for a in (r for r in events if is_first(r)):
            opens = group_ms is None or previous is None or a[T] - previous[T] > group_ms
            previous = a
            if not opens:
                continue
            b = answer(a, thens)
            late_ms = None if b is None else b[T] - a[T]
            if late_ms is not None and late_ms <= window.ms:
                continue
            if late_ms is not None or clock_ms > a[T] + window.ms:
                measure = late_ms / window.unit_ms if report and late_ms is not None else None
                yield Friction(rule_id, a, severity(late_ms), (a[EVENT_ID],), a[T], where(a), measure, window.value)
    return Compiled(rule.id, static((*rule.first, *rule.then)), evaluate)


def sequence(rule: SequenceRule, limits: Limits) -> Compiled:
    """`first` (or another rule's frictions) then `then` within the window: the friction is on the `then`."""
    window = span(rule.within, limits)
    is_first, is_then, key_of, same = matcher(rule.first), matcher(rule.then), same_key(rule.same), bool(rule.same)
    where, rule_id, after_rule = touchpoint_of(rule.touchpoint), rule.id, rule.after_rule
    severity = severity_of(rule.severity, lambda s: span(s, limits).ms)

    def found(a: Record, b: Record) -> Friction:
        elapsed = b[T] - a[T]
        return Friction(rule_id, b, severity(elapsed), (a[EVENT_ID], b[EVENT_ID]), b[T], where(b),
                        elapsed / window.unit_ms, window.value)

    def first_after(events: list[Record], clock_ms: int, fired: Fired) -> Iterator[Friction]:
        thens = [r for r in events if is_then(r)]
        starts = [f.touchpoint_event for f in fired[after_rule]] if after_rule else [r for r in events if is_first(r)]
        for a in starts:
            key = key_of(a) if same else None
            if same and key is None:
                continue
            b = next((b for b in thens if b[T] > a[T] and (not same or key_of(b) == key)), None)
            if b is not None and b[T] - a[T] <= window.ms:
                yield found(a, b)

    def latest_before(events: list[Record], clock_ms: int, fired: Fired) -> Iterator[Friction]:
        latest: dict[Any, Record] = {}
        for r in events:
            key = key_of(r) if same else ()
            a = latest.get(key)
            if a is not None and is_then(r) and r[T] - a[T] <= window.ms:
                yield found(a, r)
            if is_first(r) and key is not None:
                latest[key] = r
    reads = static(rule.then) if after_rule else static((*rule.first, *rule.then))
    return Compiled(rule.id, reads, latest_before if rule.pair == "latest" else first_after)


def loop(rule: LoopRule, limits: Limits) -> Compiled:
    """Within a session (path events at most session_gap apart), each step back to an earlier path
    step; at `times` of them the friction is on the last, with those back-steps as evidence."""
    session_ms, times = span(rule.session_gap, limits).ms, rule.times
    steps = [matcher((m,)) for m in rule.path]
    where, rule_id = touchpoint_of(rule.touchpoint), rule.id
    severity = severity_of(rule.severity, lambda s: number(s, limits))

    def evaluate(events: list[Record], clock_ms: int, fired: Fired) -> Iterator[Friction]:
        at: int | None = None
        last: Record | None = None
        backs: list[Record] = []
        for r in events:
            index = next((i for i, step in enumerate(steps) if step(r)), None)
            if index is None:
                continue
            if last is not None and r[T] - last[T] > session_ms:
                at, backs = None, []
            if at is not None and index < at:
                backs.append(r)
                if len(backs) == times:
                    yield Friction(rule_id, r, severity(times), tuple(b[EVENT_ID] for b in backs), r[T], where(r),
                                   times, times)
            at, last = index, r
    return Compiled(rule.id, static(rule.path), evaluate)


def repetition(rule: RepetitionRule, limits: Limits) -> Compiled:
    """`times` matching events (sharing the `same` measures) within the window: the friction is on the
    last; the run then starts again."""
    window, times = span(rule.within, limits), rule.times
    match, key_of, same = matcher(rule.when), same_key(rule.same), bool(rule.same)
    where, rule_id = touchpoint_of(rule.touchpoint), rule.id
    severity = severity_of(rule.severity, lambda s: number(s, limits))

    def evaluate(events: list[Record], clock_ms: int, fired: Fired) -> Iterator[Friction]:
        runs: dict[Any, list[Record]] = {}
        for r in events:
            key = key_of(r) if same else ()
            if key is None or not match(r):
                continue
            run = [x for x in runs.get(key, ()) if r[T] - x[T] <= window.ms] + [r]
            if len(run) >= times:
                yield Friction(rule_id, r, severity(times), tuple(x[EVENT_ID] for x in run), r[T], where(r),
                               len(run), times)
                run = []
            runs[key] = run
    return Compiled(rule.id, static(rule.when), evaluate)
