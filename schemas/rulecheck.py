"""Checks a map's friction rules against the rest of the map, before anything runs.

A rule that names an event type no channel sends, a touchpoint the map lacks or a text measure it
compares with a number would never fire, or fail on the first event: such a map is refused on load,
with the path of the bad value (`friction_rules[3].then[0].event_types`) and the reason. A map file
that declares no rules gets the shipped map's.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from schemas.channelrefs import declared_event_types
from schemas.channels import ChannelSpec, channels, plugin_channels
from schemas.events import Feedback
from schemas.rules import (
    FEEDBACK_PREFIX,
    KINDS,
    TAGS,
    AbsenceRule,
    Bands,
    EventMatch,
    GapRule,
    LoopRule,
    OccurrenceRule,
    RepetitionRule,
    RuleError,
    SequenceRule,
    ThresholdRule,
    reference,
    unit_of,
)

TIMED = (AbsenceRule, SequenceRule, GapRule)  # their severity bands compare durations
Rule = ThresholdRule | OccurrenceRule | AbsenceRule | SequenceRule | LoopRule | RepetitionRule | GapRule


@dataclass(frozen=True)
class Vocabulary:
    """What rules may name: per channel its event types and measures (name -> numeric?), and more."""

    event_types: Mapping[str, tuple[str, ...]]
    measures: Mapping[str, Mapping[str, bool]]
    touchpoints: Mapping[str, str]  # id -> channel
    phases: tuple[str, ...]
    thresholds: Mapping[str, float]
    feedback: Mapping[str, bool]


def vocabulary(specs: Sequence[ChannelSpec], touchpoints: Mapping[str, str], phases: tuple[str, ...],
               thresholds: Mapping[str, float]) -> Vocabulary:
    """What a map's rules may name: the event types and measures of the map's channels (`specs`, read
    from the map being loaded, not the registry of the previous one) and of plugins, and the map's own."""
    plugins = {name: c for name, c in channels().items() if name in plugin_channels()}
    return Vocabulary(
        event_types={name: tuple(sorted(types)) for name, types in declared_event_types(specs).items()},
        measures={**{s.name: {m.name: is_numeric(m.annotation()) for m in s.measures} for s in specs},
                  **{name: {k: is_numeric(f.annotation) for k, f in c.measures.model_fields.items()}
                     for name, c in plugins.items()}},
        touchpoints=touchpoints, phases=phases, thresholds=thresholds,
        feedback={k: is_numeric(f.annotation) for k, f in Feedback.model_fields.items()})


def with_rules_of(raw: dict[str, Any], shipped: Path) -> dict[str, Any]:
    """A map file without `friction_rules` keeps the shipped map's (`friction_rules: []` means none)."""
    if "friction_rules" in raw:
        return raw
    rules = yaml.safe_load(shipped.read_text(encoding="utf-8")).get("friction_rules", [])
    return {**raw, "friction_rules": rules}


def rule_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's location in a rule as a path into the file: `friction_rules[3].within` (tags dropped)."""
    path = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif not ((i == 2 and part in KINDS) or part in TAGS):
            path += f".{part}" if path else part
    return path


def is_numeric(annotation: Any) -> bool:
    """Whether a measure's type annotation holds numbers (int or float, not bool)."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) is not None:
        return any(is_numeric(arg) for arg in typing.get_args(annotation) if not isinstance(arg, (str, int)))
    return False


def check_rules(rules: tuple[Rule, ...], vocabulary: Vocabulary) -> None:
    """Raise RuleError for the first rule that names something the map does not have."""
    seen: list[str] = []
    for i, rule in enumerate(rules):
        _Check(f"friction_rules[{i}]", vocabulary, tuple(seen)).rule(rule)
        seen.append(rule.id)


@dataclass(frozen=True)
class _Check:
    at: str
    vocabulary: Vocabulary
    earlier: tuple[str, ...]

    def rule(self, rule: Rule) -> None:
        if rule.id in self.earlier:
            raise RuleError(f"{self.at}.id", f"rule {rule.id!r} is declared twice")
        if rule.touchpoint not in ("event", "about") and rule.touchpoint not in self.vocabulary.touchpoints:
            raise RuleError(f"{self.at}.touchpoint", f"{rule.touchpoint!r} is not 'event', 'about' nor a touchpoint "
                                                     "of the map")
        self.severity(rule)
        for name in ("when", "first", "then", "path"):
            for j, match in enumerate(getattr(rule, name, ())):
                self.match(f"{self.at}.{name}[{j}]", match)
        for name in ("within", "group_within", "session_gap", "longer_than"):
            if (spec := getattr(rule, name, None)) is not None:
                self.duration(f"{self.at}.{name}", spec)
        self.specific(rule)

    def specific(self, rule: Rule) -> None:
        if isinstance(rule, ThresholdRule):
            self.number(f"{self.at}.{rule.comparison[0]}", rule.comparison[1])
            self.measure(f"{self.at}.measure", rule.measure, rule.when, numeric=True)
        if isinstance(rule, OccurrenceRule) and rule.measure is not None:
            self.measure(f"{self.at}.measure", rule.measure, rule.when, numeric=isinstance(rule.severity, Bands))
        if isinstance(rule, (AbsenceRule, SequenceRule, RepetitionRule)):
            sides = (*getattr(rule, "first", ()), *getattr(rule, "then", ()), *getattr(rule, "when", ()))
            for j, name in enumerate(rule.same):
                self.measure(f"{self.at}.same[{j}]", name, sides, numeric=False)
        if isinstance(rule, SequenceRule) and rule.after_rule is not None and rule.after_rule not in self.earlier:
            raise RuleError(f"{self.at}.after_rule", f"{rule.after_rule!r} is not a rule declared before this one "
                                                     f"(before: {', '.join(self.earlier) or 'none'})")
        if isinstance(rule, GapRule) and rule.until_phase is not None and rule.until_phase not in self.vocabulary.phases:
            raise RuleError(f"{self.at}.until_phase", f"{rule.until_phase!r} is not one of the map's phases "
                                                      f"({', '.join(self.vocabulary.phases)})")

    def severity(self, rule: Rule) -> None:
        if not isinstance(rule.severity, Bands):
            return
        if isinstance(rule, OccurrenceRule) and rule.measure is None:
            raise RuleError(f"{self.at}.severity", "bands need a measure to compare: give the rule a measure")
        for j, band in enumerate(rule.severity.bands):
            where, spec = f"{self.at}.severity.bands[{j}].{band.comparison[0]}", band.comparison[1]
            if isinstance(rule, TIMED):
                if not isinstance(spec, str):
                    raise RuleError(where, f"{spec!r}: this rule's measure is a time: write a duration ('12h')")
                self.duration(where, spec)
            else:
                self.number(where, spec)

    def match(self, at: str, match: EventMatch) -> None:
        v = self.vocabulary
        if match.channel is not None and match.channel not in v.event_types:
            raise RuleError(f"{at}.channel", f"channel {match.channel!r} is not registered "
                                             f"(known: {', '.join(sorted(v.event_types))})")
        channels = (match.channel,) if match.channel else tuple(v.event_types)
        for event_type in match.event_types:
            if not any(event_type in v.event_types[c] for c in channels):
                raise RuleError(f"{at}.event_types", f"{event_type!r} is not an event type of "
                                                     f"{match.channel or 'any channel'}")
        for touchpoint in match.touchpoints:
            if v.touchpoints.get(touchpoint) not in channels:
                raise RuleError(f"{at}.touchpoints", f"{touchpoint!r} is not a touchpoint of "
                                                     f"{match.channel or 'the map'}")
        for name in match.measures:
            self.measure(f"{at}.measures.{name}", name, (match,), numeric=False)

    def measure(self, at: str, name: str, matches: tuple[EventMatch, ...], numeric: bool) -> None:
        v = self.vocabulary
        if name.startswith(FEEDBACK_PREFIX):
            known = v.feedback
            field = name.removeprefix(FEEDBACK_PREFIX)
        else:
            open_ended = not matches or any(m.channel is None for m in matches)
            channels = tuple(v.measures) if open_ended else tuple({m.channel: 0 for m in matches if m.channel})
            known = {k: num for c in channels for k, num in v.measures[c].items()}
            field = name
        if field not in known:
            raise RuleError(at, f"{name!r} is not a measure of the events this rule reads "
                                f"(known: {', '.join(sorted(known))})")
        if numeric and not known[field]:
            raise RuleError(at, f"{name!r} is not a number: a rule cannot compare it")

    def number(self, at: str, spec: float | str) -> None:
        name = reference(spec)
        if name is not None and name not in self.vocabulary.thresholds:
            raise RuleError(at, f"friction.{name} is not a threshold of the friction section "
                                f"(known: {', '.join(self.vocabulary.thresholds)})")

    def duration(self, at: str, spec: str) -> None:
        self.number(at, spec)
        name = reference(spec)
        if name is not None and unit_of(name) is None:
            raise RuleError(at, f"friction.{name} is not a duration (its name ends in none of _s, _min, _h, _days)")
