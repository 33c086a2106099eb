"""Streams adapter, stage 1's input: the raw topics read in whole fetches, not message by message.

Faust hands every message through its conductor, stream and acknowledgement machinery one at a
time; for the raw topics, which carry nearly every message the worker reads, that cost more than
validating them. Stage 1 keeps no state, so it reads them with an aiokafka consumer of its own
(group `<app id>-intake`, so several workers share the raw partitions) in batches of up to
`streams.batch_events`, gathered for at most `streams.batch_within_s` (so a trickle of events still
makes batches worth their fixed costs), and commits a batch's offsets only after the producer flushed what the
batch produced: at-least-once, as before (a replayed raw message is a duplicate downstream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.exceptions import NotReady

from foundation.kafka import aiokafka_consumer_options, commit_handled, consume_in, gathered, raw_topics
from foundation.settings import Settings

POLL_TIMEOUT_MS = 200
PRODUCER_WAIT_S = 0.05

Handler = Callable[[list[Any]], Awaitable[None]]  # raw messages (topic, partition, offset, value) -> done
LagSink = Callable[[str, int], None]  # (topic, messages not yet read) after each batch
Reading = Callable[[bool], None]  # after each poll: read to the end of every assigned partition?


def intake(app: Any, settings: Settings, group_id: str, handle: Handler,
           lag: LagSink | None = None, reading: Reading | None = None) -> Callable[[], Awaitable[None]]:
    """A task for the app: read raw batches until stopped; `handle` must have flushed before it returns.

    After each batch `lag` gets, per raw topic, the messages not yet read (high watermark from the
    latest fetch response minus the next offset to handle; correct on the local broker too).
    `reading` says the intake is reading (it has partitions and polled them: idle time counts from
    then) and whether it has read every assigned partition to its end.

    A failure crashes the worker (as a failing agent would) instead of leaving stage 1 silently stopped.
    """
    streams = settings.streams

    async def run() -> None:
        await producer_ready(app)
        consumer = AIOKafkaConsumer(*raw_topics(settings),
                                    **aiokafka_consumer_options(settings, group_id, streams.batch_events))
        await consume_in(app, consumer,
                         lambda c: _consume(c, streams.batch_events, streams.batch_within_s, handle, lag, reading))
    return run


async def producer_ready(app: Any) -> None:
    """Wait until Faust's producer can send. Faust starts it beside the app's tasks: on a loaded
    machine stage 1 once sent its first batch first and the worker crashed with NotReady."""
    await app.maybe_start_producer()
    while True:
        try:
            app.producer._ensure_producer()  # the aiokafka driver's own readiness check (as streams.worker's sender)
            return
        except NotReady:
            await asyncio.sleep(PRODUCER_WAIT_S)


async def _consume(consumer: AIOKafkaConsumer, batch_events: int, within_s: float, handle: Handler,
                   lag: LagSink | None, reading: Reading | None = None) -> None:
    read: dict[Any, int] = {}  # next offset per partition, from the messages handled
    while True:
        messages = await gathered(consumer, batch_events, within_s, POLL_TIMEOUT_MS)
        if messages:
            await handle(messages)
            await commit_handled(consumer)
        if reading is not None and consumer.assignment():
            reading(await read_to_end(consumer))
        for message in messages:
            read[TopicPartition(message.topic, message.partition)] = message.offset + 1
        if lag is not None:
            for name, behind in lag_by_topic(consumer, read).items():
                lag(name, behind)


async def read_to_end(consumer: AIOKafkaConsumer) -> bool:
    """Every assigned partition's position has reached the high watermark of its latest fetch."""
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is None or await consumer.position(tp) < high:
            return False
    return True


def lag_by_topic(consumer: AIOKafkaConsumer, read: dict[Any, int]) -> dict[str, int]:
    """Messages not yet read per assigned topic: the latest fetch's high watermark minus the next
    offset handled (partitions without both yet are left out; nothing here waits on the broker)."""
    behind: dict[str, int] = {}
    for tp in consumer.assignment():
        high, position = consumer.highwater(tp), read.get(tp)
        if high is not None and position is not None:
            behind[tp.topic] = behind.get(tp.topic, 0) + max(high - position, 0)
    return behind
