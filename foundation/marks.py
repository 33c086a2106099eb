"""Consumers that must neither lose nor repeat input: an offset mark per partition, gaps read back.

Faust's consumer commits offsets on its own schedule, and around rebalances (a worker restarted
after a crash, a dead member leaving the group) it re-delivers messages already handled and can
skip messages it never handed to the agent while acknowledging them as an offset gap (seen on the
worker's work topics). A consumer therefore keeps, per input partition, the next offset it
expects (`@next/<partition>`) in a mapping of its own: the worker's stages 2 and 3 keep theirs
in their tables, written after the state changes of the message that moved it, in the same
changelog partition (stage 1 and the sink read with plain aiokafka consumers, which hand over
every message). `unapplied(marks, settings, message)` says what to handle for a message:

- an offset below the mark was handled already: nothing (a stage's state holds it, and its work
  for the next stage was delivered before the state was written);
- an offset above the mark means messages were skipped: they are read back from the topic
  (`read_range`: a kafka-python consumer of its own, no group, nothing committed, the project's
  client options so SASL/TLS apply) and come first, in order;
- otherwise the message itself; the caller moves the mark past what it handled.

A mark beyond the partition's end (its high watermark, from a Fetch response: right on the local
broker too, unlike ListOffsets) means the log was reset or the topic recreated under the state:
the embedded broker restarted empty, or a topic was deleted and made again. Skipping "applied"
offsets then drops new work in silence, so `unapplied` raises `LogReset` instead and the stage
stops. The check runs only on the message that would be skipped, and stays sound after the new
log grows: a mark is at most the end the old log had, and a healthy log's end never shrinks.

A crash between a stage's state writes and its mark replays that message once more against the
newer state: a duplicate, which changes nothing and re-sends the same records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import MutableMapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from foundation.kafka import common_options
from foundation.settings import Settings
from schemas.errors import BrokerError, JourneysError

log = logging.getLogger(__name__)

MARK_PREFIX = "@next/"
READ_TIMEOUT_S = 120.0
FETCH_DEADLINE_S = 10.0
HIGHWATER_POLL_MS = 200
POLL_MS = 500

Read = tuple[int, int, bytes]  # (offset, timestamp in ms, value)


class LogReset(JourneysError):
    """A stage's mark says more was applied than its input partition holds: the log is not the one
    its state was built from."""

    def __init__(self, topic: str, partition: int, mark: int, end: int) -> None:
        self.topic, self.partition, self.mark, self.end = topic, partition, mark, end
        super().__init__(
            f"{topic}/{partition}: this stage's state has applied offsets up to {mark - 1} (mark {mark}), "
            f"but the partition ends at offset {end}: the log was reset or the topic recreated since. "
            "Nothing was skipped; the worker stops. Restore the log, or rebuild the worker's state from "
            "the raw topics (docs/operations.md, \"A log that was reset\")")


def mark_key(partition: int) -> str:
    """The key of a partition's mark (no identifier or customer id starts with '@')."""
    return f"{MARK_PREFIX}{partition}"


def is_mark(key: str | bytes) -> bool:
    """A mark's key, also as a changelog key (which a table's serializer may have quoted)."""
    return (key.decode(errors="replace") if isinstance(key, bytes) else key).lstrip('"').startswith(MARK_PREFIX)


def expected_offset(marks: MutableMapping[str, Any], partition: int) -> int | None:
    raw = marks.get(mark_key(partition))
    return None if raw is None else int(raw)


async def unapplied(marks: MutableMapping[str, Any], settings: Settings, message: Any,
                    end: int | None = None) -> list[Read]:
    """The messages to handle for this one: none if handled already, the skipped ones first.

    `end`: the partition's high watermark if the caller's consumer knows it (else it is fetched
    when needed). Raises LogReset when the mark is beyond it.
    """
    expected = expected_offset(marks, message.partition)
    if expected is not None and message.offset < expected:
        if end is None:
            end = await asyncio.to_thread(end_offset, settings, message.topic, message.partition)
        if expected > end:
            raise LogReset(message.topic, message.partition, expected, end)
        log.info("%s/%s offset %s was handled before: skipped", message.topic, message.partition, message.offset)
        return []
    todo: list[Read] = []
    if expected is not None and message.offset > expected:
        todo = await asyncio.to_thread(read_range, settings, message.topic, message.partition, expected,
                                       message.offset)
        log.warning("%s/%s: the consumer skipped offsets %s..%s; %d read back and handled first",
                    message.topic, message.partition, expected, message.offset - 1, len(todo))
    return [*todo, (message.offset, round(message.timestamp * 1000), message.value)]


def end_offset(settings: Settings, topic: str, partition: int) -> int:
    """The partition's end, from a Fetch response's high watermark. Raises BrokerError if unknown."""
    high = fetch_highwaters(settings, [(topic, partition)]).get((topic, partition))
    if high is None:
        raise BrokerError(f"could not learn the end of {topic}/{partition} within {FETCH_DEADLINE_S:.0f} s")
    return high


def fetch_highwaters(settings: Settings, partitions: list[Any]) -> dict[Any, int | None]:
    """End offsets of (topic, partition) pairs (any objects with .topic and .partition, or tuples),
    read from Fetch responses: the local broker's ListOffsets(LATEST) is wrong (BROKER.md), the
    high watermark a fetch returns is right on every broker. None where no fetch answered in time."""
    if not partitions:
        return {}
    wanted = {TopicPartition(*_pair(tp)): tp for tp in partitions}
    consumer = KafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False,
                             max_partition_fetch_bytes=1024, client_id="journeys-highwater")
    try:
        consumer.assign(list(wanted))
        consumer.seek_to_beginning()
        deadline = time.monotonic() + FETCH_DEADLINE_S
        while time.monotonic() < deadline and any(consumer.highwater(tp) is None for tp in wanted):
            consumer.poll(timeout_ms=HIGHWATER_POLL_MS)
        return {original: consumer.highwater(tp) for tp, original in wanted.items()}
    finally:
        consumer.close()


def _pair(tp: Any) -> tuple[str, int]:
    return (tp[0], tp[1]) if isinstance(tp, tuple) else (tp.topic, tp.partition)


def read_range(settings: Settings, topic: str, partition: int, start: int, end: int) -> list[Read]:
    """Every message with start <= offset < end, in order; `end` must be an offset that exists.

    Raises BrokerError when they cannot be read in time: better to stop than to skip them.
    """
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
