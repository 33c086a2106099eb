"""The contract's friction rules: the small vocabulary a journey map declares pain points in.

Every company has its own pain points, so they are configuration, not Python: seven kinds of rule
(threshold, occurrence, absence, sequence, loop, repetition, gap) cover the usual ones, each with
an id, a severity (fixed, or by bands), the touchpoint it is attributed to and a fixed kind of
evidence (docs/journeys.md). This module checks a rule's own shape (kinds, fields, durations,
references to the map's `friction:` thresholds); `check_rules` checks what a rule names against the
rest of the map (channels, event types, touchpoints, measures, phases, earlier rules) and says where
a problem is as a path (`friction_rules[3].within`). streams.core.friction compiles the rules once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

from schemas.events import Name

Severity = Literal["low", "medium", "high"]
MS_PER_UNIT = {"s": 1_000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
# A threshold of the map's `friction:` section carries its unit in its name (house style).
UNIT_OF_SUFFIX = (("_days", "d"), ("_min", "min"), ("_h", "h"), ("_s", "s"))
_LITERAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)\s*$")
# `friction.NAME`, optionally scaled (`2 * friction.call_wait_s`) or shifted (`friction.transfers + 2`).
_REFERENCE = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*\*\s*)?friction\.([a-z][a-z0-9_]*)\s*(?:\+\s*(\d+(?:\.\d+)?))?\s*$")
FEEDBACK_PREFIX = "feedback."


class RuleError(ValueError):
    """A rule names something the map does not have: where (a path in the map) and why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def _check_number(spec: float | str) -> float | str:
    if isinstance(spec, str) and not (_REFERENCE.match(spec) or _LITERAL.match(spec)):
        raise ValueError(f"{spec!r} is not a number nor a reference like 'friction.call_wait_s' "
                         "(optionally '2 * friction.NAME' or 'friction.NAME + 2')")
    return spec


def _check_limit(spec: float | str) -> float | str:
    """A band's limit: a number for most rules, a duration for those that measure time (rulecheck)."""
    if isinstance(spec, str) and _DURATION.match(spec):
        return spec
    return _check_number(spec)


def _check_duration(spec: str) -> str:
    if not (_DURATION.match(spec) or _REFERENCE.match(spec)):
        raise ValueError(f"{spec!r} is not a duration: write a number and a unit (s, m, h, d: '30m', '24h', "
                         "'7d') or a threshold of the friction section ('friction.checkout_abandon_min')")
    return spec


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


Number = Annotated[float | str, AfterValidator(_check_number)]
Limit = Annotated[float | str, AfterValidator(_check_limit)]
Duration = Annotated[str, AfterValidator(_check_duration)]


@dataclass(frozen=True)
class Span:
    """A resolved duration: its length and the unit it was written in (frictions report in it)."""

    ms: float
    unit_ms: int

    @property
    def value(self) -> float:
        return self.ms / self.unit_ms


def reference(spec: float | str) -> str | None:
    """The name of the `friction:` threshold a value refers to, if it does."""
    found = _REFERENCE.match(spec) if isinstance(spec, str) else None
    return found.group(2) if found else None


def number(spec: float | str, limits: Mapping[str, float]) -> float:
    if not isinstance(spec, str):
        return spec
    literal = _LITERAL.match(spec)
    if literal:
        return float(literal.group(1))
    factor, name, offset = _parts(spec)
    value = limits[name]
    return value if factor is None and offset is None else float(factor or 1) * value + float(offset or 0)


def span(spec: str, limits: Mapping[str, float]) -> Span:
    literal = _DURATION.match(spec)
    if literal:
        unit_ms = MS_PER_UNIT[literal.group(2)]
        return Span(float(literal.group(1)) * unit_ms, unit_ms)
    factor, name, offset = _parts(spec)
    unit_ms = MS_PER_UNIT[unit_of(name) or "s"]
    return Span((float(factor or 1) * limits[name] + float(offset or 0)) * unit_ms, unit_ms)


def unit_of(threshold: str) -> str | None:
    return next((unit for suffix, unit in UNIT_OF_SUFFIX if threshold.endswith(suffix)), None)


def _parts(spec: str) -> tuple[str | None, str, str | None]:
    found = _REFERENCE.match(spec)
    assert found is not None  # checked on load
    return found.group(1), found.group(2), found.group(3)


class RuleModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventMatch(RuleModel):
    """Which events: every condition given must hold (measures: the value is one of those listed)."""

    channel: Name | None = None
    event_types: tuple[Name, ...] = ()
    touchpoints: tuple[Name, ...] = ()
    measures: dict[str, tuple[Any, ...]] = Field(default_factory=dict)


# One match, or a list of them: an event matches the list when it matches any.
Matches = Annotated[tuple[EventMatch, ...], BeforeValidator(_listed)]


class Comparison(RuleModel):
    """Exactly one of: above (>), at_least (>=), below (<), at_most (<=) (the subclass declares them)."""

    @model_validator(mode="after")
    def _one_comparison(self) -> Comparison:
        given = [k for k in ("above", "at_least", "below", "at_most") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of above, at_least, below, at_most (given: {', '.join(given) or 'none'})")
        return self

    @property
    def comparison(self) -> tuple[str, float | str]:
        return next((k, v) for k in ("above", "at_least", "below", "at_most") if (v := getattr(self, k)) is not None)


class Band(Comparison):
    """A severity that applies when the rule's measure compares so; the first band that holds wins."""

    above: Limit | None = None
    at_least: Limit | None = None
    below: Limit | None = None
    at_most: Limit | None = None
    severity: Severity


class Bands(RuleModel):
    default: Severity
    bands: tuple[Band, ...] = Field(min_length=1)


def _severity_form(value: Any) -> str:
    return "banded_severity" if isinstance(value, (dict, Bands)) else "fixed_severity"


# Tagged, so that a bad value gets one error from the form it was written in, not one per form.
SeveritySpec = Annotated[Annotated[Severity, Tag("fixed_severity")] | Annotated[Bands, Tag("banded_severity")],
                         Discriminator(_severity_form)]
TAGS = ("fixed_severity", "banded_severity")


class Rule(RuleModel):
    id: Name
    description: str = ""
    severity: SeveritySpec = "medium"
    # `event`: the touchpoint of the event the friction is on; `about`: the touchpoint its feedback
    # is about (else the event's); or a touchpoint id of the map.
    touchpoint: str = "event"


class ThresholdRule(Rule, Comparison):
    """A measure (or `feedback.csat`, `feedback.nps`) compared with a limit, on each matching event."""

    above: Number | None = None
    at_least: Number | None = None
    below: Number | None = None
    at_most: Number | None = None
    kind: Literal["threshold"]
    when: Matches = ()
    measure: str


class OccurrenceRule(Rule):
    """Each matching event is a pain point (an error, an abandoned call, a bounce)."""

    kind: Literal["occurrence"]
    when: Matches = Field(min_length=1)
    measure: str | None = Field(None, description="Reported, and what severity bands compare.")


class AbsenceRule(Rule):
    """A `first` event not followed by a `then` event within `within` (at or after it)."""

    kind: Literal["absence"]
    first: Matches = Field(min_length=1)
    then: Matches = Field(min_length=1)
    within: Duration
    same: tuple[str, ...] = Field((), description="Measures `then` must share with `first` (e.g. thread_id).")
    group_within: Duration | None = Field(None, description="`first` events this close to the previous one are "
                                                            "one attempt, judged from its first event.")
    report_delay: bool = Field(False, description="When `then` comes late, report how late as the measure.")


class SequenceRule(Rule):
    """A `first` event (or another rule's friction) then a `then` event within `within`."""

    kind: Literal["sequence"]
    first: Matches = ()
    after_rule: Name | None = Field(None, description="Instead of `first`: the events an earlier rule fired on.")
    then: Matches = Field(min_length=1)
    within: Duration
    same: tuple[str, ...] = ()
    # first: each `first` with the first `then` strictly later; latest: each `then` with the latest
    # `first` before it in the journey.
    pair: Literal["first", "latest"] = "first"

    @model_validator(mode="after")
    def _one_start(self) -> SequenceRule:
        if bool(self.first) == (self.after_rule is not None):
            raise ValueError("give exactly one of first (events) and after_rule (a rule id)")
        if self.after_rule is not None and self.pair != "first":
            raise ValueError("after_rule pairs each friction with the first `then` after it: pair must be first")
        return self


class LoopRule(Rule):
    """Going back to an earlier step of an ordered path, `times` times within one session."""

    kind: Literal["loop"]
    path: tuple[EventMatch, ...] = Field(min_length=2)
    times: int = Field(1, ge=1)
    session_gap: Duration = Field("30m", description="Path events further apart start a new session.")


class RepetitionRule(Rule):
    """The same event `times` times within `within` (retries)."""

    kind: Literal["repetition"]
    when: Matches = Field(min_length=1)
    times: int = Field(ge=2)
    within: Duration
    same: tuple[str, ...] = ()


class GapRule(Rule):
    """No (matching) event for longer than `longer_than`, until an event of `until_phase`."""

    kind: Literal["gap"]
    when: Matches = ()
    longer_than: Duration
    until_phase: Name | None = None


FrictionRule = Annotated[ThresholdRule | OccurrenceRule | AbsenceRule | SequenceRule | LoopRule | RepetitionRule
                         | GapRule, Field(discriminator="kind")]
KINDS = ("threshold", "occurrence", "absence", "sequence", "loop", "repetition", "gap")
