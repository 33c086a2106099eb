"""Streams adapter: the workaround for the local broker's (Tansu's) wrong ListOffsets(LATEST).

Tansu answers ListOffsets(LATEST) with the base offset of the newest batch + 1, not the end
offset, and Faust takes a table's recovery highwater from it: recovery would stop early and lose
updates. The Fetch response's `high_watermark` is right, so on this broker the consumer's
highwater lookup is replaced by one that fetches each partition once and reads it. It also does
not wake a waiting fetch when data arrives, so the worker's fetch wait is kept short. Active only
when `settings.kafka.local_broker` is true; nothing else in the project patches Faust.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from foundation import marks as gaps
from foundation.kafka import LOCAL_FETCH_MAX_WAIT_MS
from foundation.settings import Settings


def fetch_highwaters(settings: Settings, partitions: list[Any]) -> dict[Any, int]:
    """End offsets of (topic, partition) pairs, read from Fetch responses (0 where none answered)."""
    return {tp: high or 0 for tp, high in gaps.fetch_highwaters(settings, partitions).items()}


def install(settings: Settings) -> None:
    """Make Faust's consumer take highwaters from Fetch responses (local broker only)."""
    if not settings.kafka.local_broker:
        return
    async def _highwaters(self: Any, partitions: list[Any]) -> Mapping[Any, int]:
        return await asyncio.to_thread(fetch_highwaters, settings, list(partitions))

    AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]
    create = AIOKafkaConsumerThread._create_worker_consumer

    def _create_worker_consumer(self: Any, transport: Any) -> Any:  # Faust's own wait is a fixed 1.5 s
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = LOCAL_FETCH_MAX_WAIT_MS
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
