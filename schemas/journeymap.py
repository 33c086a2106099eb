"""The journey map as code: channels, phases, touchpoints, phase rules, identity evidence, friction.

One YAML file (the default ships as `schemas/journey_map.yaml`) declares which channels exist
(their event types and measures: schemas.channels) and how raw touchpoint events become
journeys. It is validated on load; an invalid file fails with the file, the field path and the
reason. Every stage reads the same `JourneyMap`, and loading it registers its channels.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.channelrefs import Reference, check_channel_references
from schemas.channels import ChannelSpec, plugin_channels, safe_yaml, shipped_channel_specs, use_map_channels
from schemas.errors import ConfigError
from schemas.events import IdentifierKind, Name
from schemas.rulecheck import check_rules, rule_path, vocabulary, with_rules_of
from schemas.rules import FrictionRule, RuleError
from schemas.scrub import DEFAULT_PATTERNS, Scrubber

DEFAULT_MAP_PATH = Path(__file__).with_name("journey_map.yaml")
CURRENT = "current"  # a rule's phase meaning "stays in the journey's current phase"


class MapModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Phase(MapModel):
    id: Name
    label: str


class Touchpoint(MapModel):
    id: Name
    channel: Name
    label: str
    # Higher is better unless stated; used by scorecards for colouring.
    description: str = ""


class PhaseRule(MapModel):
    """(channel, event type, touchpoint, measure values) -> phase. First matching rule wins."""

    phase: str
    channel: Name | None = None
    event_types: tuple[Name, ...] = ()
    touchpoints: tuple[Name, ...] = ()
    measures: dict[str, tuple[Any, ...]] = Field(default_factory=dict)

    def matches(self, channel: str, event_type: str, touchpoint: str, measures: dict[str, Any]) -> bool:
        return ((self.channel is None or self.channel == channel)
                and (not self.event_types or event_type in self.event_types)
                and (not self.touchpoints or touchpoint in self.touchpoints)
                and all(measures.get(k) in allowed for k, allowed in self.measures.items()))


class EvidenceRule(MapModel):
    """Identifiers that an event of this kind proves belong to one customer."""

    name: Name
    channel: Name
    event_types: tuple[Name, ...]
    links: tuple[tuple[IdentifierKind, IdentifierKind], ...]


class IdentityPolicy(MapModel):
    max_identifiers_per_customer: int = Field(12, ge=2)
    # A device (anonymous id) seen logging in as more customers than this is shared: flagged, not fused.
    max_customers_per_device: int = Field(1, ge=1)
    # An anonymous event on a device belongs to the person whose sign-in on it is the latest at or
    # before the event, if that sign-in is at most this old; otherwise to the device's own customer.
    sign_in_window_hours: float = Field(4, gt=0)
    rules: tuple[EvidenceRule, ...]


class Dimension(MapModel):
    """A context dimension events may carry (device type, campaign, store region...): a column to break down by."""

    name: Name
    description: str = ""
    values: tuple[str, ...] | None = Field(None, description="The allowed values; any value up to max_length if omitted.")
    max_length: int = Field(100, ge=1, le=200)


class JourneyPolicy(MapModel):
    inactivity_gap_days: float = Field(30, gt=0)
    allowed_lateness_hours: float = Field(72, ge=0)


class FrictionThresholds(MapModel):
    call_wait_s: float = Field(300, gt=0, description="A call waited longer than this before an answer.")
    transfers: int = Field(2, ge=1, description="A call transferred this many times or more.")
    checkout_abandon_min: float = Field(30, gt=0, description="Checkout started and no order within N minutes.")
    repeat_contact_days: float = Field(7, gt=0, description="Contact again within N days of an unresolved one.")
    email_unanswered_h: float = Field(24, gt=0, description="Inbound e-mail with no reply within N hours.")
    csat_max: int = Field(2, ge=1, le=5, description="CSAT at or below this is a pain point.")
    nps_detractor_max: int = Field(6, ge=0, le=10, description="NPS at or below this is a detractor.")
    navigation_ease_max: int = Field(2, ge=1, le=5, description="Navigation rating at or below this.")
    stalled_days: float = Field(14, gt=0, description="Journey with no progress for N days before purchase.")
    channel_hop_h: float = Field(24, gt=0, description="A failure followed by another channel within N hours.")
    store_queue_s: float = Field(600, gt=0, description="A store queue longer than this.")


class ScrubPattern(MapModel):
    """Free text matching `pattern` (a Python regular expression) is replaced by `marker`. With
    `hints`, only text that contains one of them is searched: every match must contain one."""

    pattern: str = Field(min_length=1)
    marker: str = Field(min_length=1, max_length=40)
    hints: tuple[str, ...] = ()

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"not a regular expression: {err}") from err
        return pattern


class PiiScrubbing(MapModel):
    """What the edge replaces in free text (paths, referrers, comments, text measures): schemas.scrub."""

    patterns: tuple[ScrubPattern, ...] = tuple(ScrubPattern(pattern=p, marker=m, hints=h) for p, m, h in DEFAULT_PATTERNS)


class JourneyMap(MapModel):
    """The whole journey map, validated."""

    # None: the shipped channels (a map written before channels were declared in it)
    channels: tuple[ChannelSpec, ...] | None = None
    phases: tuple[Phase, ...]
    touchpoints: tuple[Touchpoint, ...]
    phase_rules: tuple[PhaseRule, ...]
    identity: IdentityPolicy
    journey: JourneyPolicy = JourneyPolicy()
    friction: FrictionThresholds = FrictionThresholds()
    dimensions: tuple[Dimension, ...] = ()
    pii_scrubbing: PiiScrubbing = PiiScrubbing()
    friction_rules: tuple[FrictionRule, ...] = ()  # absent from a file: the shipped map's (parse_journey_map)

    @model_validator(mode="after")
    def _consistent(self) -> JourneyMap:
        phase_ids = {p.id for p in self.phases}
        for i, rule in enumerate(self.phase_rules):
            if rule.phase != CURRENT and rule.phase not in phase_ids:
                raise ValueError(f"phase_rules[{i}]: phase {rule.phase!r} is not one of {sorted(phase_ids)}")
        names = [d.name for d in self.dimensions]
        if len(set(names)) != len(names):
            raise ValueError(f"dimensions: a name is declared twice ({', '.join(sorted(names))})")
        return self

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """A map sent to another process (the worker's checking pool) registers its channels there too."""
        super().__setstate__(state)
        use_map_channels(self.channel_specs)

    @cached_property
    def channel_specs(self) -> tuple[ChannelSpec, ...]:
        return self.channels if self.channels is not None else shipped_channel_specs()

    @cached_property
    def channel_names(self) -> tuple[str, ...]:
        """The map's channels, then those registered from Python (plugins)."""
        return tuple(dict.fromkeys((*(c.name for c in self.channel_specs), *sorted(plugin_channels()))))

    @model_validator(mode="after")
    def _rules_consistent(self) -> JourneyMap:  # friction rules: schemas/rules.py, schemas/rulecheck.py
        touchpoints = {t.id: t.channel for t in self.touchpoints}
        check_rules(self.friction_rules, vocabulary(self.channel_specs, touchpoints, self.phase_ids, self.friction.model_dump()))
        return self

    @cached_property
    def dimension_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    def context_problems(self, context: dict[str, str]) -> list[tuple[str, str]]:
        """(path, message) for each context entry the map does not allow: undeclared name, value not allowed."""
        declared = {d.name: d for d in self.dimensions}
        problems = []
        for name, value in context.items():
            dimension = declared.get(name)
            if dimension is None:
                known = ", ".join(self.dimension_names) or "none"
                problems.append((f"context.{name}", f"dimension {name!r} is not declared in the journey map "
                                                    f"(declared: {known})"))
            elif dimension.values is not None and value not in dimension.values:
                problems.append((f"context.{name}", f"{value!r} is not an allowed value "
                                                    f"(allowed: {', '.join(dimension.values)})"))
            elif len(value) > dimension.max_length:
                problems.append((f"context.{name}", f"value is {len(value)} characters; the limit is "
                                                    f"{dimension.max_length}"))
        return problems

    @cached_property
    def scrubber(self) -> Scrubber:  # compiled once per map: validation scrubs every event's free text
        return Scrubber.of(tuple((p.pattern, p.marker, p.hints) for p in self.pii_scrubbing.patterns))

    @cached_property
    def phase_ids(self) -> tuple[str, ...]:  # the map is frozen: computed once (asked per event and journey)
        return tuple(p.id for p in self.phases)

    def phase_index(self, phase: str) -> int:
        return self.phase_ids.index(phase)

    def touchpoint_ids(self, channel: str | None = None) -> tuple[str, ...]:
        return self._touchpoint_ids.get(channel, ())

    @cached_property
    def _touchpoint_ids(self) -> dict[str | None, tuple[str, ...]]:
        """Touchpoint ids per channel (None: all), computed once: validation asks per event."""
        by_channel: dict[str | None, tuple[str, ...]] = {None: tuple(t.id for t in self.touchpoints)}
        for t in self.touchpoints:
            by_channel[t.channel] = (*by_channel.get(t.channel, ()), t.id)
        return by_channel

    def phase_for(self, channel: str, event_type: str, touchpoint: str, measures: dict[str, Any]) -> str:
        """The phase an event belongs to, or `current` when it does not move the journey."""
        for rule in self.phase_rules:
            if rule.matches(channel, event_type, touchpoint, measures):
                return rule.phase
        return CURRENT

    def evidence_for(self, channel: str, event_type: str) -> tuple[EvidenceRule, ...]:
        return tuple(r for r in self.identity.rules
                     if r.channel == channel and event_type in r.event_types)


def load_journey_map(path: Path | None = None) -> JourneyMap:
    """Read and validate a journey-map file; errors name the file, the field and the reason."""
    path = path or DEFAULT_MAP_PATH
    source = str(path)
    try:
        raw = safe_yaml(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(source, "(file)", f"cannot read: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(source, "(syntax)", str(err).replace("\n", " ")) from err
    return parse_journey_map(raw, source)


INHERITED_RULES = (" (a rule of the shipped map, which this map inherits because it declares no friction_rules: "
                   "declare its own, or friction_rules: [] for none)")


def parse_journey_map(raw: Any, source: str = "<journey map>") -> JourneyMap:
    if not isinstance(raw, dict):
        raise ConfigError(source, "(root)", "expected a mapping of phases, touchpoints, phase_rules, ...")
    try:
        journey_map = JourneyMap.model_validate(with_rules_of(raw, DEFAULT_MAP_PATH))
    except ValidationError as err:
        first = err.errors()[0]
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, RuleError):
            inherited = "" if "friction_rules" in raw else INHERITED_RULES
            raise ConfigError(source, cause.path, cause.reason + inherited) from err
        loc = first["loc"]
        field = rule_path(loc) if loc[:1] == ("friction_rules",) else ".".join(str(p) for p in loc) or "(root)"
        raise ConfigError(source, field, first["msg"].removeprefix("Value error, ")) from err
    check_channel_references(journey_map.channel_specs, references(journey_map), source)
    use_map_channels(journey_map.channel_specs)
    return journey_map


def references(journey_map: JourneyMap) -> list[Reference]:
    """Where the map names channels and event types: touchpoints, phase rules, identity rules."""
    return [*(Reference(f"touchpoints.{i}", tp.channel) for i, tp in enumerate(journey_map.touchpoints)),
            *(Reference(f"phase_rules.{i}", r.channel, r.event_types) for i, r in enumerate(journey_map.phase_rules)),
            *(Reference(f"identity.rules.{i}", r.channel, r.event_types)
              for i, r in enumerate(journey_map.identity.rules))]


# Channels: the map's channels section and what refers to it (touchpoints, phase and identity rules).

def map_channel_names(path: Path | None = None) -> tuple[str, ...]:
    """The channels of the map at `path` (None: the shipped one), registered by loading it."""
    return load_journey_map(path).channel_names
