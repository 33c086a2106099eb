"""The journey map as code: phases, touchpoints, phase rules, identity evidence, friction.

One YAML file (the default ships as `schemas/journey_map.yaml`) declares how raw touchpoint
events become journeys. It is validated on load; an invalid file fails with the file, the field
path and the reason. Every stage reads the same `JourneyMap`.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from journeys.errors import ConfigError
from schemas.channels import channels
from schemas.events import IdentifierKind, Name

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


class JourneyMap(MapModel):
    """The whole journey map, validated."""

    phases: tuple[Phase, ...]
    touchpoints: tuple[Touchpoint, ...]
    phase_rules: tuple[PhaseRule, ...]
    identity: IdentityPolicy
    journey: JourneyPolicy = JourneyPolicy()
    friction: FrictionThresholds = FrictionThresholds()

    @model_validator(mode="after")
    def _consistent(self) -> JourneyMap:
        phase_ids = {p.id for p in self.phases}
        known_channels = set(channels())
        for i, tp in enumerate(self.touchpoints):
            if tp.channel not in known_channels:
                raise ValueError(f"touchpoints[{i}] ({tp.id}): channel {tp.channel!r} is not registered "
                                 f"(known: {', '.join(sorted(known_channels))})")
        for i, rule in enumerate(self.phase_rules):
            if rule.phase != CURRENT and rule.phase not in phase_ids:
                raise ValueError(f"phase_rules[{i}]: phase {rule.phase!r} is not one of {sorted(phase_ids)}")
        return self

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
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(source, "(file)", f"cannot read: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(source, "(syntax)", str(err).replace("\n", " ")) from err
    return parse_journey_map(raw, source)


def parse_journey_map(raw: Any, source: str = "<journey map>") -> JourneyMap:
    if not isinstance(raw, dict):
        raise ConfigError(source, "(root)", "expected a mapping of phases, touchpoints, phase_rules, ...")
    try:
        return JourneyMap.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise ConfigError(source, field, first["msg"]) from err


