"""Reading a stretch of a topic partition back from the broker, for consumers that found a hole.

Faust's consumer can skip messages around a rebalance while acknowledging them as an offset gap
(seen on the worker's work topics after a restart). A consumer that tracks the offsets it handled
notices the jump and reads the skipped ones back with `read_range`; it runs a kafka-python
consumer of its own (no group, nothing committed) with the project's client options, so it works
with SASL/TLS like every other client.
"""

from __future__ import annotations

import asyncio
import time

from journeys.errors import BrokerError
from journeys.kafka import common_options
from journeys.settings import Settings

READ_TIMEOUT_S = 120.0
POLL_MS = 500

Read = tuple[int, int, bytes]  # (offset, timestamp in ms, value)


def read_range(settings: Settings, topic: str, partition: int, start: int, end: int) -> list[Read]:
    """Every message with start <= offset < end, in order; `end` must be an offset that exists.

    Raises BrokerError when they cannot be read in time: better to stop than to skip them.
    """
    from kafka import KafkaConsumer, TopicPartition

    tp = TopicPartition(topic, partition)
    consumer = KafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False,
                             client_id="journeys-gap-reader")
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        found: list[Read] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while time.monotonic() < deadline:
            for message in consumer.poll(timeout_ms=POLL_MS).get(tp, []):
                if message.offset >= end:
                    return found
                found.append((message.offset, message.timestamp, message.value))
            if found and found[-1][0] == end - 1:
                return found
        raise BrokerError(f"could not read {topic}/{partition} offsets {start}..{end - 1} within "
                          f"{READ_TIMEOUT_S:.0f} s; stopping rather than skipping them")
    finally:
        consumer.close()


async def read_range_async(settings: Settings, topic: str, partition: int, start: int, end: int) -> list[Read]:
    """`read_range` on a thread, so the event loop (heartbeats, other agents) keeps running."""
    return await asyncio.to_thread(read_range, settings, topic, partition, start, end)
