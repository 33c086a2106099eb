"""Test helper: read a topic back from the beginning, as a downstream consumer would.

Manual assignment of every partition from the earliest offset (no group join, no end-offset
lookup: the local broker's ListOffsets(LATEST) is wrong, see BROKER.md).
"""

from __future__ import annotations

import time
from typing import Any

from foundation.kafka import common_options
from foundation.settings import Settings

READ_TIMEOUT_S = 20.0
POLL_MS = 200


def read_topic(settings: Settings, name: str, expected: int,
               timeout_s: float = READ_TIMEOUT_S) -> list[Any]:
    """Consume `name` from the start until `expected` records arrive or the timeout passes;
    then poll once more so that surplus records (duplicates, strays) are seen too."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            records += _poll(consumer)
        records += _poll(consumer)
        return records
    finally:
        consumer.close()


def _poll(consumer: Any) -> list[Any]:
    return [r for batch in consumer.poll(timeout_ms=POLL_MS).values() for r in batch]
