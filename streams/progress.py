"""Streams adapter: how far each stage has applied its input, kept with the state it produced.

Faust's consumer commits offsets on its own schedule, and around rebalances (a worker restarted
after a crash, a dead member leaving the group) it can re-deliver work a stage has already applied
and, worse, skip messages it never handed to the agent while acknowledging them as a gap. Stages 2
and 3 therefore keep, per input partition, the next offset they expect (`@next/<partition>`) in
their own table, written after the state changes of the message that moved it, in the same
changelog partition. On every message:

- an offset below the mark was applied before a crash: it is skipped (the state already holds it,
  and its work for the next stage was delivered before the state was written);
- an offset above the mark means messages were skipped: they are read from the topic directly
  (`GapReader`) and applied first, in order, so no work is lost;
- otherwise it is applied and the mark moves past it.

A crash between a message's state writes and its mark replays that message once more against
the newer state: a duplicate, which changes nothing and re-sends the same records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from journeys.errors import JourneysError
from journeys.settings import Settings

log = logging.getLogger(__name__)

MARK_PREFIX = "@next/"
GAP_READ_TIMEOUT_S = 120.0
GAP_POLL_MS = 500


def mark_key(partition: int) -> str:
    """The table key of a partition's mark (no identifier or customer id starts with '@')."""
    return f"{MARK_PREFIX}{partition}"


def is_mark(key: str | bytes) -> bool:
    return (key.decode(errors="replace") if isinstance(key, bytes) else key).startswith(MARK_PREFIX)


def expected_offset(table: MutableMapping[str, Any], partition: int) -> int | None:
    raw = table.get(mark_key(partition))
    return None if raw is None else int(raw)


class GapReader:
    """Reads a range of a work topic's partition straight from the broker (its own consumer, no group)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = {k: v for k, v in options.items() if k != "group_id"} | {"group_id": None,
                                                                                  "enable_auto_commit": False}
        self.consumer: AIOKafkaConsumer | None = None

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[tuple[int, bytes]]:
        """Every message with start <= offset < end, in order (`end` is a message that exists)."""
        if self.consumer is None:
            self.consumer = AIOKafkaConsumer(**self.options)
            await self.consumer.start()
        tp = TopicPartition(topic, partition)
        self.consumer.assign([tp])
        self.consumer.seek(tp, start)
        found: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + GAP_READ_TIMEOUT_S
        while time.monotonic() < deadline:
            fetched = await self.consumer.getmany(tp, timeout_ms=GAP_POLL_MS)
            for message in fetched.get(tp, []):
                if message.offset >= end:
                    return found
                found.append((message.offset, message.value))
            if found and found[-1][0] == end - 1:
                return found
        raise JourneysError(f"could not read {topic}/{partition} offsets {start}..{end - 1} within "
                            f"{GAP_READ_TIMEOUT_S:.0f} s: the worker stops rather than skip them")

    async def close(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None


async def unapplied(table: MutableMapping[str, Any], reader: GapReader, message: Any) -> list[tuple[int, bytes]]:
    """The (offset, value) pairs to apply for this message: none if applied already, the skipped ones first."""
    expected = expected_offset(table, message.partition)
    if expected is not None and message.offset < expected:
        log.info("%s/%s offset %s was applied before a restart: skipped", message.topic, message.partition,
                 message.offset)
        return []
    todo: list[tuple[int, bytes]] = []
    if expected is not None and message.offset > expected:
        todo = await reader.read(message.topic, message.partition, expected, message.offset)
        log.warning("%s/%s: the consumer skipped offsets %s..%s; %d read back and applied first",
                    message.topic, message.partition, expected, message.offset - 1, len(todo))
    return [*todo, (message.offset, message.value)]


def gap_reader(settings: Settings) -> GapReader:
    from streams.intake import consumer_options

    return GapReader(consumer_options(settings, group_id=""))
