"""Streams stage, erasure: events of forgotten customers are refused before identity resolution.

`journeys forget` publishes a tombstone on identity.links: an IdentityLink of kind `forget` whose
identifiers are `erased:<sha256 of the identifier key>` tokens (the tombstone itself names nobody).
The worker keeps the tokens it has seen and turns any later event carrying one of those
identifiers into a dead letter without its payload, so a forgotten customer is never re-linked or
re-stitched, also on a replay. The pure part (tokens, the check) is data in, data out; `attach`
is the thin adapter: it reads the tombstones already on the topic at start (kafka-python, from
the tombstones' one partition) and follows new ones with a Faust agent.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Any

import orjson

from journeys.kafka import common_options, topic
from journeys.settings import Settings
from schemas.events import TouchpointEventBase
from schemas.outputs import IDENTITY_TOPIC
from schemas.validation import Problem, Rejection

FORGET_KIND = "forget"
FORGOTTEN_CUSTOMER = "forgotten"  # customer_id and Kafka key of every tombstone
ERASED_PREFIX = "erased:"
ERASED_REASON = "an identifier of this event belongs to a customer erased on request; the event is not kept"
LOAD_POLL_MS = 200
LOAD_TIMEOUT_S = 30.0


def erased_token(identifier: str) -> str:
    """The tombstone token of an identifier key (`kind:value`): SHA-256, so it names nobody."""
    return ERASED_PREFIX + hashlib.sha256(identifier.encode("utf-8")).hexdigest()


def tombstone_tokens(value: bytes | None) -> set[str]:
    """The erased tokens in one identity.links message (none unless it is a forget tombstone)."""
    try:
        record = orjson.loads(value or b"null")
    except orjson.JSONDecodeError:
        return set()
    if not isinstance(record, dict) or record.get("kind") != FORGET_KIND:
        return set()
    return {i for i in record.get("identifiers") or () if isinstance(i, str) and i.startswith(ERASED_PREFIX)}


def refused(tokens: set[str], identifiers: Iterable[str]) -> bool:
    return bool(tokens) and any(erased_token(key) in tokens for key in identifiers)


def screen(tokens: set[str], result: TouchpointEventBase | Rejection, source: str) -> TouchpointEventBase | Rejection:
    """The event, or a payload-less rejection when it carries an erased identifier."""
    if isinstance(result, Rejection) or not refused(tokens, result.identifiers.keys()):
        return result
    return Rejection("", source, (Problem("identifiers", ERASED_REASON),))


def load_tokens(settings: Settings) -> set[str]:
    """Every tombstone already on identity.links (they share one partition: their key)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.partitioner.default import murmur2

    name = topic(settings, IDENTITY_TOPIC)
    consumer = KafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(name) or set()
        if not partitions:
            return set()
        where = TopicPartition(name, (murmur2(FORGOTTEN_CUSTOMER.encode()) & 0x7FFFFFFF) % len(partitions))
        consumer.assign([where])
        consumer.seek_to_beginning(where)
        return _read_to_end(consumer, where)
    finally:
        consumer.close()


def _read_to_end(consumer: Any, where: Any) -> set[str]:
    """Read until the position reaches the fetch's high watermark (ListOffsets is wrong on Tansu)."""
    tokens: set[str] = set()
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=LOAD_POLL_MS).values():
            for record in records:
                tokens |= tombstone_tokens(record.value)
        highwater = consumer.highwater(where)
        if highwater is not None and consumer.position(where) >= highwater:
            break
    return tokens


def attach(app: Any, settings: Settings) -> set[str]:
    """The erased tokens for the worker: loaded now, kept current by an agent on identity.links."""
    tokens = load_tokens(settings)
    links = app.topic(topic(settings, IDENTITY_TOPIC), key_type=bytes, value_type=bytes)

    async def follow_tombstones(stream: Any) -> None:
        async for value in stream:
            tokens.update(tombstone_tokens(value))

    app.agent(links, name="erasure-tombstones")(follow_tombstones)
    return tokens
