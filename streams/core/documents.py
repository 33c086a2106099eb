"""Streams core: output records as JSON-ready documents, for the worker's hot path.

The stitcher's outputs are normally pydantic models (schemas/outputs.py), which the story tests,
the one-process pipeline and the dashboards' fixtures read. The worker only needs their JSON, and
building models and serialising them through pydantic cost more per event than stitching; so it
renders the same records as plain dicts (with datetime values) that `encode` turns into the
same JSON a model's `model_dump_json` gives. tests/streams/test_documents.py holds the two
renderings equal.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

import orjson

from schemas.channels import channels
from schemas.events import SCHEMA_VERSION, Feedback, Identifiers
from schemas.outputs import FRICTION_TOPIC, STATE_TOPIC, STEPS_TOPIC
from streams.core.layout import Layout, Renderer, friction_parts, snapshot_parts
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
)

JSON_OPTIONS = orjson.OPT_UTC_Z  # "…Z" for UTC, as pydantic writes aware datetimes


class Document(NamedTuple):
    """One output record: the topic it goes to (unprefixed), its key, its fields."""

    topic: str
    key: str
    fields: dict[str, Any]


def encode(document: Document) -> bytes:
    return orjson.dumps(document.fields, option=JSON_OPTIONS)


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


DOCUMENTS: Renderer[Document] = Renderer(step_document, snapshot_document, friction_document)
