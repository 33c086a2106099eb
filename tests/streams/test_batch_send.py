"""The worker's record-batch sender on a real broker: what its stages hand it arrives, once and in order.

The worker's stages run as concurrent tasks of one event loop and share the sender: one stage
may flush while another is still adding records (a full batch is handed over in the middle of
an `add_many`). Nothing may be lost or sent twice then, and a stage's `confirm()` returns only
once everything handed over before it is delivered.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from foundation.kafka import TopicSpec, aiokafka_options, ensure_topics, topic
from foundation.settings import Settings
from schemas.errors import DeliveryError
from streams.batch_send import MAX_MESSAGE_BYTES as WHOLE_BATCH_BYTES
from streams.batch_send import BatchSender
from tests.producers.readback import read_topic

RECORDS = 3000
VALUE_BYTES = 600  # ~12 records fill one of the producer's default 16 KiB batches
PARTITIONS = 2


@asynccontextmanager
async def _sender(settings: Settings, compression: str | None = None) -> AsyncIterator[BatchSender]:
    """A batch sender on a started aiokafka producer of its own, stopped afterwards."""
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", compression_type=compression)
    await producer.start()
    try:
        yield BatchSender(lambda: producer)
    finally:
        await producer.stop()


def _records(name: str) -> Iterator[tuple[str, bytes, bytes]]:
    return ((name, b"k", f"{n}".encode().ljust(VALUE_BYTES, b".")) for n in range(RECORDS))


async def _send_while_another_task_flushes(settings: Settings, name: str) -> list[bytes]:
    async with _sender(settings) as sender:
        values = [f"{n:06d}".encode().ljust(VALUE_BYTES, b".") for n in range(RECORDS)]
        adding = asyncio.ensure_future(sender.add_many((name, f"k{n % 7}".encode(), value)
                                                       for n, value in enumerate(values)))
        while not adding.done():  # the other stage: flushes and confirms whatever is there
            await sender.confirm()
            await asyncio.sleep(0)
        await adding
        await sender.confirm()
        return values


def test_records_added_while_another_task_flushes_all_arrive_once_and_in_order(settings: Settings) -> None:
    name = topic(settings, "batch-send")
    ensure_topics(settings, [TopicSpec(name, PARTITIONS)])
    sent = asyncio.run(_send_while_another_task_flushes(settings, name))
    received = read_topic(settings, name, RECORDS)
    assert sorted(m.value for m in received) == sent  # every record, none twice
    by_key: dict[bytes, list[bytes]] = defaultdict(list)
    for message in sorted(received, key=lambda m: (m.partition, m.offset)):
        by_key[message.key].append(message.value)
    for values in by_key.values():
        assert values == sorted(values)  # a key's records in the order they were added


async def _confirm_waits_for_every_earlier_hand_over(settings: Settings, name: str) -> tuple[int, int]:
    async with _sender(settings) as sender:
        await sender.add_many(_records(name))
        await sender.flush()
        handed_over = list(sender.unconfirmed)
        first = asyncio.ensure_future(sender.confirm())  # another stage's confirm takes these first
        await asyncio.sleep(0)
        await sender.confirm()  # this stage's: must still wait for them
        undelivered = sum(not delivery.done() for delivery in handed_over)
        await first
        return undelivered, len(handed_over)


def test_a_confirm_waits_for_deliveries_another_confirm_is_already_waiting_for(settings: Settings) -> None:
    name = topic(settings, "batch-confirm")
    ensure_topics(settings, [TopicSpec(name, 1)])
    undelivered, handed_over = asyncio.run(_confirm_waits_for_every_earlier_hand_over(settings, name))
    assert handed_over > 1
    assert undelivered == 0


async def _a_failure_during_another_confirm(settings: Settings, name: str) -> DeliveryError | None:
    async with _sender(settings) as sender:
        await sender.add_many(_records(name))
        await sender.flush()
        first = asyncio.ensure_future(sender.confirm())  # one stage waits for its batches...
        await asyncio.sleep(0)
        refused = asyncio.get_running_loop().create_future()  # ...while another's send is refused
        refused.set_exception(KafkaError("the broker refused the batch"))
        sender.track(refused, name, 0)
        await first
        try:
            await sender.confirm()  # the other stage's
        except DeliveryError as error:
            return error
        return None


def test_a_delivery_that_failed_while_another_confirm_waited_is_raised_by_the_next(settings: Settings) -> None:
    name = topic(settings, "batch-failed")
    ensure_topics(settings, [TopicSpec(name, 1)])
    error = asyncio.run(_a_failure_during_another_confirm(settings, name))
    assert error is not None and "refused" in str(error)
    assert (error.topic, error.partition) == (name, 0)  # named where it failed


async def _send_whole(settings: Settings, name: str, records: list[tuple[bytes, bytes | None]]) -> int:
    """Send the records with send_whole on a snappy producer (as the worker's); how many batches it took."""
    async with _sender(settings, compression="snappy") as sender:
        await sender.send_whole(name, 0, records)
        batches = len(sender.unconfirmed)
        await sender.confirm()
        return batches


def test_changes_that_must_land_together_go_as_one_batch_when_they_pack_under_the_limit(settings: Settings) -> None:
    """Identity-graph changes of one work message: ~2 MB of records that pack well still go whole;
    records that do not pack go in several batches, and all arrive either way."""
    packing = [(f"o:email_hash:{n:08d}".encode(), f'{{"customer":"cust-{n % 500:06d}"}}'.encode().ljust(200, b" "))
               for n in range(10_000)]
    assert sum(len(k) + len(v or b"") for k, v in packing) > 2 * WHOLE_BATCH_BYTES
    not_packing = [(f"k{n}".encode(), random.Random(n).randbytes(1000)) for n in range(2_000)]
    for case, records, expected_batches in (("packing", packing, 1), ("not-packing", not_packing, None)):
        name = topic(settings, f"batch-whole-{case}")
        ensure_topics(settings, [TopicSpec(name, 1)])
        batches = asyncio.run(_send_whole(settings, name, records))
        assert batches == expected_batches if expected_batches else batches > 1
        assert [(m.key, m.value) for m in read_topic(settings, name, len(records))] == records
