"""A consumer's own progress mark: work applied before a restart is skipped, work the consumer skipped
is read back from the real broker and applied first, in order, and a mark beyond the partition's
end (the log was reset under the state) refuses to skip anything."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from kafka import KafkaProducer

from foundation.kafka import TopicSpec, ensure_topics, producer_options, topic
from foundation.marks import LogReset, expected_offset, is_mark, mark_key, unapplied
from foundation.settings import Settings

MESSAGES = 12


@dataclass
class Message:  # what the stage sees of a Faust message
    topic: str
    partition: int
    offset: int
    value: bytes
    timestamp: float = 0.0  # seconds, as Faust gives it


def pairs(reads: list[tuple[int, int, bytes]]) -> list[tuple[int, bytes]]:
    return [(offset, value) for offset, _, value in reads]


def published(settings: Settings) -> str:
    name = topic(settings, "work")
    ensure_topics(settings, [TopicSpec(name, 2)])
    producer = KafkaProducer(**producer_options(settings))
    for n in range(MESSAGES):
        producer.send(name, f"w{n}".encode(), partition=1)
        producer.flush()  # one batch per message, as the stages send them
    producer.close()
    return name


def test_applied_work_is_skipped_and_skipped_work_read_back_in_order(settings: Settings) -> None:
    name = published(settings)
    table: dict[str, Any] = {mark_key(1): 4}  # offsets 0..3 applied before a restart

    async def scenario() -> list[list[tuple[int, int, bytes]]]:
        return [await unapplied(table, settings, Message(name, 1, 2, b"w2")),    # re-delivered
                await unapplied(table, settings, Message(name, 1, 4, b"w4")),    # the next one
                await unapplied(table, settings, Message(name, 1, 9, b"w9"))]    # 4..8 skipped by the consumer

    replay, next_one, after_gap = (pairs(reads) for reads in asyncio.run(scenario()))
    assert replay == []
    assert next_one == [(4, b"w4")]
    assert after_gap == [(n, f"w{n}".encode()) for n in range(4, 10)]


def test_a_partition_without_a_mark_applies_what_comes_and_marks_are_recognised(settings: Settings) -> None:
    table: dict[str, Any] = {}
    assert expected_offset(table, 0) is None
    assert pairs(asyncio.run(unapplied(table, settings, Message("t", 0, 17, b"x")))) == [(17, b"x")]
    table[mark_key(0)] = b"18"  # the customer-state table keeps bytes
    assert expected_offset(table, 0) == 18
    assert is_mark(mark_key(3)) and is_mark(mark_key(3).encode()) and not is_mark("cust-0123")
    assert is_mark(f'"{mark_key(3)}"'.encode())  # as a JSON-serialised changelog key


def test_a_mark_beyond_the_partitions_end_refuses_instead_of_skipping(settings: Settings) -> None:
    name = published(settings)  # offsets 0..11 on partition 1
    table: dict[str, Any] = {mark_key(1): 40}  # a state built from a longer log that is gone

    with pytest.raises(LogReset) as refused:  # the end is read from a Fetch response
        asyncio.run(unapplied(table, settings, Message(name, 1, 2, b"w2")))
    assert (refused.value.topic, refused.value.partition, refused.value.mark, refused.value.end) == (name, 1, 40, MESSAGES)
    assert f"{name}/1:" in str(refused.value) and "mark 40" in str(refused.value) and f"ends at offset {MESSAGES}" in str(refused.value)
    with pytest.raises(LogReset):  # the same with the end the caller's consumer saw
        asyncio.run(unapplied(table, settings, Message(name, 1, 2, b"w2"), end=MESSAGES))
    table[mark_key(1)] = MESSAGES  # everything applied, nothing new: a re-delivery is skipped as before
    assert asyncio.run(unapplied(table, settings, Message(name, 1, 11, b"w11"))) == []
