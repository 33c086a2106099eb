"""The erasure list on Kafka: published by `journeys forget`, loaded and followed by every writer.

The list is a compacted topic of one partition (schemas.erasure.ERASURE_TOPIC), one message per
token keyed by the token, so compaction keeps every erasure for ever and a reader gets the whole
list by reading one partition to its end. The worker and each sink (embedded or `journeys sink`)
load it before they write anything, then follow it with a task of their own, so a customer
erased while they run is refused from then on. Foundation: the stages import it, it imports no
stage (only Kafka and the contract's tokens).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AsyncTopicPartition
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from foundation.kafka import aiokafka_consumer_options, common_options, consume_in, producer_options, topic
from foundation.settings import Settings
from schemas.erasure import ERASURE_TOPIC, ErasureEntry, ErasureList
from schemas.errors import DeliveryError

LOAD_POLL_MS = 200
LOAD_TIMEOUT_S = 30.0
FOLLOW_POLL_MS = 1000
FOLLOW_MAX_RECORDS = 500
FOLLOW_WAIT_MS = 500  # an erasure is seen within about this long; idle fetches stay rare
TOPIC_WAIT_S = 5.0
ACK_TIMEOUT_S = 30.0


def secret_of(settings: Settings) -> bytes:
    return settings.pii_secret.get_secret_value().encode("utf-8")


def publish(settings: Settings, tokens: Iterable[str]) -> None:
    """Put the tokens on the erasure list and wait until Kafka has acknowledged every one."""
    name = topic(settings, ERASURE_TOPIC)
    now = datetime.now(UTC).isoformat()
    producer = KafkaProducer(**producer_options(settings))
    try:
        sent = [producer.send(name, key=token.encode(), value=ErasureEntry(token=token, erased_at=now)
                              .model_dump_json().encode(), partition=0) for token in sorted(tokens)]
        for future in sent:
            future.get(timeout=ACK_TIMEOUT_S)
    except Exception as err:
        raise DeliveryError(name, 0, str(err) or type(err).__name__) from err
    finally:
        producer.close()


def load(settings: Settings) -> tuple[ErasureList, int | None]:
    """The whole list as it stands, and the offset after it (None: the topic does not exist yet)."""
    erasures = ErasureList(secret_of(settings))
    name = topic(settings, ERASURE_TOPIC)
    consumer = KafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False)
    try:
        if not consumer.partitions_for_topic(name):
            return erasures, None
        where = TopicPartition(name, 0)
        consumer.assign([where])
        consumer.seek_to_beginning(where)
        _read_to_end(consumer, where, erasures)
        return erasures, consumer.position(where)
    finally:
        consumer.close()


def _read_to_end(consumer: Any, where: Any, erasures: ErasureList) -> None:
    """Read until the position reaches the fetch's high watermark (ListOffsets is wrong on Tansu)."""
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=LOAD_POLL_MS).values():
            for record in records:
                take(erasures, record.key, record.value)
        highwater = consumer.highwater(where)
        if highwater is not None and consumer.position(where) >= highwater:
            return
    raise DeliveryError(topic_name(where), 0, f"the erasure list was not read to its end in {LOAD_TIMEOUT_S:.0f} s")


def topic_name(where: Any) -> str:
    return str(where.topic)


def take(erasures: ErasureList, key: bytes | None, value: bytes | None) -> None:
    """Add one message's token (its key). An erasure is never withdrawn: a null value is ignored, or
    anyone who can write to the topic could bring an erased customer back with one tombstone."""
    if key is None or value is None:
        return
    erasures.tokens.add(key.decode("utf-8", "replace"))


def attach(app: Any, settings: Settings) -> ErasureList:
    """The erasure list for a writer: loaded now, kept current by a task of `app` that follows it.

    A failure of the follower stops the app: it must not go on writing what may have been erased.
    """
    erasures, next_offset = load(settings)

    async def follow_erasures() -> None:
        offset = next_offset
        while offset is None:  # the topic is created after the app started
            await asyncio.sleep(TOPIC_WAIT_S)
            loaded, offset = await asyncio.to_thread(load, settings)
            erasures.tokens.update(loaded.tokens)
        where, start = AsyncTopicPartition(topic(settings, ERASURE_TOPIC), 0), offset

        async def follow(consumer: Any) -> None:
            consumer.assign([where])
            consumer.seek(where, start)
            while True:
                for records in (await consumer.getmany(where, timeout_ms=FOLLOW_POLL_MS)).values():
                    for record in records:
                        take(erasures, record.key, record.value)

        options = aiokafka_consumer_options(settings, None, FOLLOW_MAX_RECORDS) | {"fetch_max_wait_ms": FOLLOW_WAIT_MS}
        await consume_in(app, AIOKafkaConsumer(**options), follow)

    app.task(follow_erasures)
    return erasures
