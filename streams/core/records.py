"""Streams core: the compact per-event record the stitcher keeps in customer state.

A customer's state must stay small (target under 2 KiB per active customer), so the worker keeps
one short list per event instead of the pydantic model: times as epoch milliseconds, measures and
feedback as small dicts without empty values. The full event can be rebuilt from it when a step
must be re-sent (after a merge or a late revision).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.channels import channels
from schemas.events import SCHEMA_VERSION, Feedback, Identifiers, TouchpointEventBase
from schemas.journeymap import CURRENT, JourneyMap
from schemas.trusted import built, defaults

# Positions in a record (a plain list, so it serialises compactly as JSON).
T, EVENT_ID, CHANNEL, TOUCHPOINT, EVENT_TYPE, PHASE, SEGMENT, MEASURES, FEEDBACK, IDS, SOURCE_ID, RECEIVED = range(12)
CONTEXT = 12  # present only when the event carried context dimensions: most records stay 12 long
Record = list[Any]
# Time units of the records' epoch milliseconds, defined here once for the whole core.
MS_PER_S = 1000
MS_PER_MIN = 60_000
MS_PER_H = 3_600_000
MS_PER_DAY = 86_400_000


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * MS_PER_S)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / MS_PER_S, UTC)


def record_of(event: TouchpointEventBase, journey_map: JourneyMap) -> Record:
    """A validated event -> its compact record, with the phase its own rule gives it."""
    measures = event.measures.model_dump(exclude_none=True) if hasattr(event, "measures") else {}
    phase = phase_of(journey_map, event.channel, event.event_type, event.touchpoint, measures)
    feedback = event.feedback.model_dump(exclude_none=True) if event.feedback else None
    record = [to_ms(event.event_time), event.event_id, event.channel, event.touchpoint, event.event_type,
              "" if phase == CURRENT else phase, event.segment, measures, feedback,
              event.identifiers.keys(), event.source_id, to_ms(event.received_time)]
    if event.context:
        record.append(dict(event.context))
    return record


def context_of(record: Record) -> dict[str, str]:
    """The record's context dimensions ({} for records of events without, and states from before 1.1)."""
    return record[CONTEXT] if len(record) > CONTEXT else {}


_PHASES: dict[int, tuple[JourneyMap, tuple[str, ...], dict[tuple[Any, ...], str]]] = {}
# Event types and measure values are the sender's choice: the remembered phases are forgotten when
# they reach this many, so no input can grow the worker's memory through them.
MAX_REMEMBERED_PHASES = 10_000


def phase_of(journey_map: JourneyMap, channel: str, event_type: str, touchpoint: str, measures: dict[str, Any]) -> str:
    """`journey_map.phase_for`, remembered per (channel, type, touchpoint, the measures rules look at)."""
    known = _PHASES.get(id(journey_map))
    if known is None or known[0] is not journey_map:
        keys = tuple(sorted({k for rule in journey_map.phase_rules for k in rule.measures}))
        known = _PHASES[id(journey_map)] = (journey_map, keys, {})
    _, keys, phases = known
    key = (channel, event_type, touchpoint, *(measures.get(k) for k in keys))
    if key not in phases:
        if len(phases) >= MAX_REMEMBERED_PHASES:
            phases.clear()
        phases[key] = journey_map.phase_for(channel, event_type, touchpoint, measures)
    return phases[key]


def event_of(record: Record) -> TouchpointEventBase:
    """Rebuild the touchpoint event a record was made from (for steps), without validating again."""
    channel = channels()[record[CHANNEL]]
    identifiers = {**defaults(Identifiers), **dict(key.split(":", 1) for key in record[IDS])}
    feedback = built(Feedback, {**defaults(Feedback), **record[FEEDBACK]}) if record[FEEDBACK] else None
    return built(channel.model, {
        "event_id": record[EVENT_ID], "source_id": record[SOURCE_ID], "schema_version": SCHEMA_VERSION,
        "event_time": from_ms(record[T]), "received_time": from_ms(record[RECEIVED]), "channel": record[CHANNEL],
        "touchpoint": record[TOUCHPOINT], "event_type": record[EVENT_TYPE],
        "identifiers": built(Identifiers, identifiers), "segment": record[SEGMENT], "feedback": feedback,
        "context": context_of(record),
        "measures": built(channel.measures, {**defaults(channel.measures), **record[MEASURES]})})


def order_key(record: Record) -> tuple[int, str]:
    """Event-time order of the specification: (event_time, event_id)."""
    return record[T], record[EVENT_ID]
