"""Streams stage, erasure: events of forgotten customers are refused before identity resolution.

`journeys forget` publishes a tombstone on identity.links: an IdentityLink of kind `forget` whose
identifiers are `erased:<sha256 of the identifier key>` tokens (the tombstone itself names nobody).
The worker keeps the tokens it has seen and turns any later event carrying one of those
identifiers into a dead letter without its payload, so a forgotten customer is never re-linked or
re-stitched, also on a replay. The pure part (tokens, the check) is data in, data out; `attach`
is the thin adapter: it reads the tombstones already on the topic at start (kafka-python, from
the tombstones' one partition) and follows new ones on that partition alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import orjson

from journeys.kafka import aiokafka_consumer_options, common_options, consume_in, topic
from journeys.settings import Settings
from schemas.outputs import IDENTITY_TOPIC
from schemas.validation import Problem, Rejection

FORGET_KIND = "forget"
FORGOTTEN_CUSTOMER = "forgotten"  # customer_id and Kafka key of every tombstone
ERASED_PREFIX = "erased:"
ERASED_REASON = "an identifier of this event belongs to a customer erased on request; the event is not kept"
LOAD_POLL_MS = 200
LOAD_TIMEOUT_S = 30.0
FOLLOW_POLL_MS = 1000
FOLLOW_MAX_RECORDS = 500
FOLLOW_WAIT_MS = 500  # a tombstone is seen within about this long; idle fetches stay rare
TOPIC_WAIT_S = 5.0
FORGET_MARK = b'"forget"'  # in every tombstone's JSON; other link records skip the parse


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


def refused(tokens: AbstractSet[str], identifiers: Iterable[str]) -> bool:
    return bool(tokens) and any(erased_token(key) in tokens for key in identifiers)


def erased_rejection(source: str) -> Rejection:
    """The rejection of an event of an erased customer: its payload is not kept."""
    return Rejection("", source, (Problem("identifiers", ERASED_REASON),))


@dataclass
class Tombstones:
    """The erased tokens read so far, and where on identity.links the next tombstone would be."""

    tokens: set[str] = field(default_factory=set)
    partition: int | None = None  # the tombstones' partition (their one key's); None: no topic yet
    next_offset: int = 0


def load_tokens(settings: Settings) -> Tombstones:
    """Every tombstone already on identity.links (they share one partition: their key)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.partitioner.default import murmur2

    name = topic(settings, IDENTITY_TOPIC)
    consumer = KafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(name) or set()
        if not partitions:
            return Tombstones()
        where = TopicPartition(name, (murmur2(FORGOTTEN_CUSTOMER.encode()) & 0x7FFFFFFF) % len(partitions))
        consumer.assign([where])
        consumer.seek_to_beginning(where)
        return Tombstones(_read_to_end(consumer, where), where.partition, consumer.position(where))
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
    """The erased tokens for the worker: loaded now, kept current by a task that follows the tombstones.

    The task reads only the tombstones' partition, with a consumer of its own from where loading
    ended: the worker's own identity links (the rest of the topic) never pass through it.
    """
    loaded = load_tokens(settings)

    async def follow_tombstones() -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        state = loaded
        while state.partition is None:  # the topic is created after the worker started
            await asyncio.sleep(TOPIC_WAIT_S)
            state = await asyncio.to_thread(load_tokens, settings)
            loaded.tokens.update(state.tokens)
        where = TopicPartition(topic(settings, IDENTITY_TOPIC), state.partition)

        async def follow(consumer: Any) -> None:
            consumer.assign([where])
            consumer.seek(where, state.next_offset)
            while True:
                for records in (await consumer.getmany(where, timeout_ms=FOLLOW_POLL_MS)).values():
                    for record in records:
                        if record.value and FORGET_MARK in record.value:
                            loaded.tokens.update(tombstone_tokens(record.value))

        options = aiokafka_consumer_options(settings, None, FOLLOW_MAX_RECORDS) | {"fetch_max_wait_ms": FOLLOW_WAIT_MS}
        # a failure stops the worker: it must not go on admitting erased customers' events
        await consume_in(app, AIOKafkaConsumer(**options), follow)

    app.task(follow_tombstones)
    return loaded.tokens
