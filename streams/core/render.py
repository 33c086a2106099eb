"""Streams core: the one renderer, layout parts -> output records as documents.

A document is an output record of schemas/outputs.py as a plain dict (datetime values), with the
topic it goes to and its key (schemas.outputs.OUTPUTS). The worker only needs the records' JSON,
and building pydantic models and serialising them cost more per event than stitching: the worker
encodes documents (streams.codecs.encode_document) into the same JSON a model's `model_dump_json`
gives (tests/streams/test_incremental.py reads them back as the sink does and holds the two
equal). Readers that want models (the one-process pipeline, tests) take `model_of(document)`.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

from schemas.channels import channels, event_adapter
from schemas.events import SCHEMA_VERSION, Feedback, Identifiers
from schemas.outputs import FRICTION_TOPIC, MAX_PATH_STEPS, OUTPUTS, STATE_TOPIC, STEPS_TOPIC, Output
from streams.core.layout import Layout
from streams.core.records import (
    CHANNEL,
    EVENT_ID,
    EVENT_TYPE,
    FEEDBACK,
    IDS,
    MEASURES,
    RECEIVED,
    SEGMENT,
    SOURCE_ID,
    TOUCHPOINT,
    Record,
    T,
    context_of,
    defaults,
    from_ms,
    order_key,
)


class Document(NamedTuple):
    """One output record: the topic it goes to (unprefixed), its key, its fields."""

    topic: str
    key: str
    fields: dict[str, Any]


def model_of(document: Document) -> Output:
    """The document as its contract model, validated (a step's event as its channel's model). For
    readers outside the worker's hot path: the one-process pipeline, tests."""
    model, fields = OUTPUTS[document.topic].model, document.fields
    if document.topic == STEPS_TOPIC:
        fields = {**fields, "event": event_adapter().validate_python(fields["event"])}
    return model.model_validate(fields)


@cache
def _measure_defaults(channel: str) -> dict[str, Any]:
    return defaults(channels()[channel].measures)


def event_document(record: Record) -> dict[str, Any]:
    """The touchpoint event a record was made from, as its model would dump it."""
    identifiers = {**defaults(Identifiers), **dict(key.split(":", 1) for key in record[IDS])}
    feedback = {**defaults(Feedback), **record[FEEDBACK]} if record[FEEDBACK] else None
    return {
        "event_id": record[EVENT_ID], "source_id": record[SOURCE_ID], "schema_version": SCHEMA_VERSION,
        "event_time": from_ms(record[T]), "received_time": from_ms(record[RECEIVED]), "channel": record[CHANNEL],
        "touchpoint": record[TOUCHPOINT], "event_type": record[EVENT_TYPE], "identifiers": identifiers,
        "segment": record[SEGMENT], "context": context_of(record), "feedback": feedback,
        "measures": {**_measure_defaults(record[CHANNEL]), **record[MEASURES]}}


def snapshot_parts(layout: Layout, journey_id: str, version: int, retracted: bool) -> dict[str, Any]:
    """A snapshot's field values (datetimes as datetime objects)."""
    d = layout.described[journey_id]
    return {
        "journey_id": journey_id, "customer_id": layout.customer_id, "version": version, "retracted": retracted,
        "segment": layout.segment, "started_at": from_ms(d["started_ms"]), "last_event_at": from_ms(d["last_ms"]),
        "events": d["events"], "channels": d["channels"], "channel_switches": d["channel_switches"],
        "first_channel": d["first_channel"],
        "phase_first_at": {p: from_ms(ms) for p, ms in d["phase_first_at"].items()},
        "furthest_phase": d["furthest_phase"], "current_phase": d["current_phase"], "converted": d["converted"],
        "status": d["status"], "friction_count": layout.friction_count(journey_id), "csat_avg": d["csat_avg"],
        # event time, so replays and batch cuts give the same record
        "updated_at": from_ms(d["last_ms"]), "path": None if retracted else path_parts(layout, journey_id)}


def journey_records(layout: Layout, journey_id: str) -> list[Record]:
    """Every event the journey holds: its steps, then the late events placed in it (the warehouse's
    touchpoints carry the journey's id on both)."""
    records = [record for record, _ in layout.journeys[journey_id].steps]
    if layout.late:
        records += sorted((layout.records[e] for e in layout.late if layout.placements[e].journey_id == journey_id),
                          key=order_key)
    return records


def path_parts(layout: Layout, journey_id: str) -> dict[str, Any]:
    """The journey's path (schemas.outputs.JourneyPath); its span only when it is too long to send each time."""
    records = journey_records(layout, journey_id)
    times = [r[T] for r in records]
    span = {"first_ms": min(times), "last_ms": max(times)}
    if len(records) > MAX_PATH_STEPS:
        return {"touchpoints": [], "event_types": [], "times_ms": [], "first_values": {}, **span, "complete": False}
    first: dict[str, str] = {}
    for record in sorted(records, key=order_key) if layout.late else records:
        first.setdefault("segment", record[SEGMENT] or "")
        first.setdefault("channel", record[CHANNEL])
        for dimension, value in context_of(record).items():
            first.setdefault(dimension, value)
    return {"touchpoints": [r[TOUCHPOINT] for r in records], "event_types": [r[EVENT_TYPE] for r in records],
            "times_ms": times, "first_values": first, **span, "complete": True}


def friction_parts(layout: Layout, friction_id: str, version: int, retracted: bool) -> dict[str, Any]:
    """A friction event's field values (datetimes as datetime objects)."""
    journey_id, f = layout.frictions[friction_id]
    return {
        "friction_id": friction_id, "customer_id": layout.customer_id, "journey_id": journey_id, "rule": f.rule,
        "touchpoint": f.touchpoint, "channel": f.touchpoint_event[CHANNEL],
        "phase": layout.journeys[journey_id].phase_at(f.touchpoint_event[EVENT_ID]), "severity": f.severity,
        "detected_at": from_ms(f.detected_ms), "measure": f.measure, "threshold": f.threshold,
        "evidence": f.evidence, "evidence_context": evidence_context(layout, f.evidence), "version": version,
        "retracted": retracted}


def evidence_context(layout: Layout, evidence: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Each context dimension the evidence events carried, with its values sorted: who suffered a friction
    (incidents count it under each), kept on the friction so readers need not look its evidence up."""
    values: dict[str, set[str]] = {}
    for event_id in evidence:
        record = layout.records.get(event_id)
        for dimension, value in (context_of(record) if record is not None else {}).items():
            values.setdefault(dimension, set()).add(value)
    return {dimension: tuple(sorted(found)) for dimension, found in sorted(values.items())}


def step_document(layout: Layout, event_id: str, version: int) -> Document:
    place = layout.placements[event_id]
    return Document(STEPS_TOPIC, layout.customer_id, {
        "customer_id": layout.customer_id, "journey_id": place.journey_id, "step_index": place.step_index,
        "phase": place.phase, "late": place.late, "version": version,
        "event": event_document(layout.records[event_id])})


def snapshot_document(layout: Layout, journey_id: str, version: int, retracted: bool = False) -> Document:
    return Document(STATE_TOPIC, journey_id, snapshot_parts(layout, journey_id, version, retracted))


def friction_document(layout: Layout, friction_id: str, version: int, retracted: bool = False) -> Document:
    return Document(FRICTION_TOPIC, friction_id, friction_parts(layout, friction_id, version, retracted))


