"""What the stream processor publishes, and what the warehouse sink reads: the output contract.

Topics and their records (JSON, one record per message, keyed as noted):
- `journeys.steps`     JourneyStep     key customer_id  one per touchpoint event, re-sent when its
                                                        journey, customer or phase changes
- `journeys.state`     JourneySnapshot key journey_id   versioned; compacted; `retracted` marks a
                                                        journey that no longer exists (merged away,
                                                        or re-cut by a late event)
- `journeys.friction`  FrictionEvent   key friction_id  versioned like snapshots
- `identity.links`     IdentityLink    key customer_id  link, merge, shared_device, forget (audit)
- `pipeline.health`    HealthSample    key stage        per minute and channel
- `touchpoints.deadletter` DeadLetter  key source       bad input with its reason

Every record carries a deterministic id (schemas/ids.py) and a `version` that only grows for that
id, so the sink can insert at-least-once into ReplacingMergeTree tables and replays change nothing.

`OUTPUTS` is the one registry of this list (topic -> model -> key -> warehouse tables): the worker
keys its records by it, the sink reads its topics and models from it, the row mapper its tables,
the consumers' view its ids, and foundation.kafka creates its topics from it.

A step carries its whole event, measures included: write it with
`model_dump_json(serialize_as_any=True)` and read it with `wire_step_model()`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model, model_validator

from schemas.channels import TouchpointEvent, channels

STEPS_TOPIC = "journeys.steps"
STATE_TOPIC = "journeys.state"
FRICTION_TOPIC = "journeys.friction"
IDENTITY_TOPIC = "identity.links"
HEALTH_TOPIC = "pipeline.health"
DEADLETTER_TOPIC = "touchpoints.deadletter"
RAW_TOPIC_PREFIX = "touchpoints."


def raw_topic(channel: str) -> str:
    """The raw topic of one channel: `touchpoints.<channel>`."""
    return f"{RAW_TOPIC_PREFIX}{channel}"


class Output(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JourneyStep(Output):
    """One touchpoint event placed in a customer's journey."""

    customer_id: str
    journey_id: str
    step_index: int = Field(ge=0, description="Position in the journey, in event time.")
    phase: str = Field(description="Phase of the journey at this step (after applying the event).")
    late: bool = Field(False, description="Arrived after the allowed lateness; recorded, not re-stitched.")
    version: int = Field(ge=0, description="Grows each time this step is re-sent with new placement.")
    event: TouchpointEvent


# A journey with more events than this is sent without its steps (the warehouse reads them from the
# touchpoints instead): a snapshot carries the whole path every time the journey changes.
MAX_PATH_STEPS = 1_000


class JourneyPath(Output):
    """Every event of a journey, late ones included, for paths and loops: parallel arrays in the
    journey's event order (late events last), each breakdown's first value, and the time span of
    all the events. A journey of more than MAX_PATH_STEPS events comes with its span only
    (`complete` false, empty arrays)."""

    touchpoints: tuple[str, ...]
    event_types: tuple[str, ...]
    times_ms: tuple[int, ...] = Field(description="Event times, milliseconds since 1970-01-01 UTC.")
    first_values: dict[str, str] = Field(
        description="The value of `segment`, `channel` and each context dimension on the journey's first "
        "event (in event time, then event id) that carries it; segment '' when that event had none.")
    first_ms: int = Field(description="The earliest event time among all the journey's events, late ones included.")
    last_ms: int = Field(description="The latest event time among all the journey's events, late ones included.")
    complete: bool = Field(True, description=f"False: more than {MAX_PATH_STEPS} events, sent without the arrays.")

    @model_validator(mode="after")
    def _parallel(self) -> JourneyPath:
        if not len(self.touchpoints) == len(self.event_types) == len(self.times_ms):
            raise ValueError(f"touchpoints, event_types and times_ms differ in length: {len(self.touchpoints)}, "
                             f"{len(self.event_types)}, {len(self.times_ms)}")
        if self.complete and not self.times_ms:
            raise ValueError("a complete path has at least one event")
        return self


class JourneySnapshot(Output):
    """A journey as it stands at `version`. The newest version of a journey_id is the truth."""

    journey_id: str
    customer_id: str
    version: int = Field(ge=0)
    retracted: bool = Field(False, description="This journey no longer exists (merged or re-cut).")
    segment: str = "unknown"
    started_at: AwareDatetime
    last_event_at: AwareDatetime
    events: int = Field(ge=0)
    channels: tuple[str, ...] = Field(description="Channels used, in order of first use.")
    channel_switches: int = Field(ge=0, description="Consecutive steps on different channels.")
    first_channel: str
    phase_first_at: dict[str, AwareDatetime] = Field(
        description="When each phase was first reached, by phase id.")
    furthest_phase: str | None = Field(description="The furthest phase reached in map order.")
    current_phase: str | None
    converted: bool = Field(description="Reached the purchase phase.")
    status: Literal["active", "stalled", "closed"] = "active"
    friction_count: int = Field(0, ge=0)
    csat_avg: float | None = None
    updated_at: AwareDatetime
    path: JourneyPath | None = Field(
        None, description="The journey's events as paths read them. None: a retraction (nothing reads its path), "
        "or written by a worker older than this field (the warehouse then reads the steps from the touchpoints).")


class FrictionEvent(Output):
    """A pain point: a rule that fired on a customer's touchpoints, with its evidence."""

    friction_id: str = Field(description="Deterministic from rule and evidence events.")
    customer_id: str
    journey_id: str
    rule: str
    touchpoint: str
    channel: str
    phase: str
    severity: Literal["low", "medium", "high"]
    detected_at: AwareDatetime = Field(description="Event time of the evidence that completed the rule.")
    measure: float | None = Field(None, description="The measured value that crossed the threshold.")
    threshold: float | None = None
    evidence: tuple[str, ...] = Field(description="Event ids that prove it.")
    evidence_context: dict[str, tuple[str, ...]] | None = Field(
        None, description="The context dimensions its evidence events carried: each dimension's values, sorted "
        "(two when the evidence was on a phone and a laptop). Who suffered it, for incidents. None: written by a "
        "worker older than this field (the warehouse then looks the evidence up).")
    version: int = Field(ge=0)
    retracted: bool = False


class IdentityLink(Output):
    """An identity-graph event, for the audit trail and the warehouse."""

    link_id: str
    kind: Literal["link", "merge", "shared_device", "cap_reached", "move", "forget"]
    customer_id: str = Field(description="The customer the identifiers now belong to.")
    merged_customer_id: str | None = Field(None, description="For a merge: the customer absorbed.")
    identifiers: tuple[str, ...] = Field(description="Identifier keys involved, `kind:value`.")
    rule: str = Field(description="The evidence rule (or guard) that decided.")
    evidence_event_id: str | None = None
    event_time: AwareDatetime
    recorded_at: AwareDatetime


class HealthSample(Output):
    """Operations figures for one stage, channel and minute."""

    minute: datetime
    stage: Literal["collector", "importer", "simulator", "worker", "sink"]
    channel: str = "all"
    events: int = 0
    dead_letters: int = 0
    lag: int = 0
    errors: int = 0
    retries: int = 0
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    note: str = ""
    # The process that counted (host:pid for the worker): one minute's samples from several worker
    # processes add up in the warehouse instead of replacing each other.
    reporter: str = ""


class DeadLetter(Output):
    """Bad input kept with its reason; the payload is as received (base64 when not UTF-8), cut to
    its first and last bytes when it is too large to keep whole (see `dead_letter_of`)."""

    source: str = Field(description="Where it came from: collector, importer:<file>:<line>, topic:<t>/<p>/<o>.")
    reason: str
    kind: str = Field(description="One of a closed set of kinds (schemas.deadletters.KINDS).")
    problems: tuple[str, ...]
    payload: str = Field(description="The payload, or its first bytes when `payload_truncated`.")
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    channel: str | None = None
    rejected_at: AwareDatetime
    payload_truncated: bool = Field(False, description="Only the first and last bytes are kept.")
    payload_tail: str = Field("", description="The payload's last bytes when truncated (same encoding).")
    payload_bytes: int = Field(0, ge=0, description="Size of the whole payload as received (0: not recorded).")
    payload_sha256: str = Field("", description="SHA-256 (hex) of the whole payload as received.")


@functools.cache
def _wire_step_model(models: tuple[type[Any], ...]) -> type[JourneyStep]:
    """Cached by the channels' models: a channel declared again with other measures gets a new reader."""
    event: Any = models[0] if len(models) == 1 else Annotated[Union[models], Field(discriminator="channel")]  # noqa: UP007
    return create_model("WireJourneyStep", __base__=JourneyStep, event=(event, ...))


def wire_step_model() -> type[JourneyStep]:
    """JourneyStep whose event is read as its channel's own model (measures included), in one pass."""
    return _wire_step_model(tuple(channel.model for channel in channels().values()))


@dataclass(frozen=True)
class OutputKind:
    """One output topic: its record model, the field its messages are keyed by, the warehouse
    tables a record lands in, its cleanup policy and, for versioned records, the path to their id."""

    topic: str
    model: type[Output]
    key: str
    tables: tuple[str, ...]
    compacted: bool = False
    single_partition: bool = False  # ordered as a whole (health samples are few)
    id_path: tuple[str, ...] = ()  # versioned records: the newest version per id is the truth


OUTPUTS: dict[str, OutputKind] = {kind.topic: kind for kind in (
    OutputKind(STEPS_TOPIC, JourneyStep, "customer_id", ("touchpoints", "journey_steps"), id_path=("event", "event_id")),
    OutputKind(STATE_TOPIC, JourneySnapshot, "journey_id", ("journeys", "journey_paths"), compacted=True,
               id_path=("journey_id",)),
    OutputKind(FRICTION_TOPIC, FrictionEvent, "friction_id", ("friction",), compacted=True,
               id_path=("friction_id",)),
    OutputKind(IDENTITY_TOPIC, IdentityLink, "customer_id", ("identity_links",)),
    OutputKind(HEALTH_TOPIC, HealthSample, "stage", ("pipeline_health",), single_partition=True),
    OutputKind(DEADLETTER_TOPIC, DeadLetter, "source", ("dead_letters",)),
)}
_BY_MODEL: dict[type[BaseModel], OutputKind] = {kind.model: kind for kind in OUTPUTS.values()}
_FIELDS = {kind.topic: frozenset(kind.model.model_fields) for kind in OUTPUTS.values() if kind.id_path}


def output_of(record: BaseModel) -> OutputKind:
    """The output a record belongs to (a subclass, such as the wire step model, counts as its base)."""
    kind = _BY_MODEL.get(type(record))
    if kind is None:
        kind = next((k for k in OUTPUTS.values() if isinstance(record, k.model)), None)
        if kind is None:
            raise TypeError(f"not an output record: {type(record).__name__}")
    return kind


def topic_and_key(record: BaseModel) -> tuple[str, str]:
    """Which output topic (unprefixed) a record goes to, and its key."""
    kind = output_of(record)
    return kind.topic, str(getattr(record, kind.key))


def reader_of(topic: str) -> type[Output]:
    """The model that reads a message of an output topic (steps: their event read as its channel's)."""
    return wire_step_model() if topic == STEPS_TOPIC else OUTPUTS[topic].model


def record_id(fields: Mapping[str, Any]) -> str:
    """The id a versioned output record (as a dict of its fields) is deduplicated on: that of the
    versioned output whose model has every one of its fields."""
    topic = next((topic for topic, names in _FIELDS.items() if fields.keys() <= names), None)
    if topic is None:
        raise ValueError(f"not a versioned output record: fields {sorted(fields)}")
    value: Any = fields
    for name in OUTPUTS[topic].id_path:
        value = value[name]
    return str(value)
