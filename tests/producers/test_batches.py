"""Record batches built and compressed by the bulk path read back as Kafka clients read them, and
are queued in the order they were built."""

from __future__ import annotations

import asyncio
import os

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBase
from aiokafka.record.memory_records import MemoryRecords
from hypothesis import given
from hypothesis import strategies as st
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2 as kafka_murmur2

from foundation.batches import BATCH_BYTES, BuiltBatch, OpenBatch, key_hash, murmur2, partition_of, partitioner
from foundation.faust_app import faust_app
from foundation.kafka import TopicSpec, ensure_topics, producer_options, topic
from foundation.settings import Settings
from producers.fastpath import SyncBatchSender


def read_back(buffer: bytearray) -> tuple[list[tuple[bytes | None, bytes | None]], int]:
    """The records of one batch as a consumer decodes them (CRC checked), and its codec."""
    records = MemoryRecords(bytes(buffer))
    batch = records.next_batch()
    assert batch is not None and batch.validate_crc()
    assert not records.has_next()
    return [(r.key, r.value) for r in batch], batch.compression_type


def filled(records: list[tuple[bytes, bytes]]) -> OpenBatch:
    batch = OpenBatch()
    for key, value in records:
        assert batch.append(timestamp=None, key=key, value=value)
    return batch


def test_a_batch_is_lz4_compressed_and_reads_back_record_for_record() -> None:
    records = [(f"email_hash:{n % 7:064x}".encode(), b'{"event_id":"%d","path":"/products/item-%d"}' % (n, n))
               for n in range(500)]
    built = filled(records).close()
    assert built.record_count() == 500 and built.closed()
    assert read_back(built._build()) == (records, DefaultRecordBase.CODEC_LZ4)


def test_records_that_do_not_compress_are_sent_as_they_are() -> None:
    records = [(b"k", os.urandom(2000))]
    assert read_back(filled(records).close()._build()) == (records, DefaultRecordBase.CODEC_NONE)


def test_a_full_batch_refuses_a_record_an_empty_one_takes_any() -> None:
    big = b"x" * (BATCH_BYTES // 3)
    batch = filled([(b"k", big), (b"k", big)])
    assert not batch.append(timestamp=None, key=b"k", value=big)
    huge = OpenBatch()
    assert huge.append(timestamp=None, key=b"k", value=b"y" * (BATCH_BYTES + 1))
    assert read_back(batch.close()._build())[0] == [(b"k", big), (b"k", big)]


def test_the_key_hash_picks_the_default_partitioners_partition() -> None:
    """One murmur2 for every path: the bulk path's `key_hash`, `partition_of` and the `partitioner`
    given to kafka-python and Faust all pick the clients' default partitioners' partition."""
    keys = [f"anonymous_id:a-{n:016x}".encode() for n in range(200)]
    partitions = list(range(4))
    expected = [DefaultPartitioner()(k, partitions, partitions) for k in keys]
    assert [key_hash(k) % 4 for k in keys] == expected
    assert [partition_of(k, 4) for k in keys] == expected
    assert [partitioner(k, partitions, partitions[:1]) for k in keys] == expected
    assert partitioner(None, partitions, [2]) == 2  # no key: a partition that is up


def test_single_sends_and_the_worker_partition_by_the_one_murmur2(settings: Settings) -> None:
    """kafka-python's producer (single sends, tombstones) puts each key where `partition_of` says;
    the worker's Faust producer is given the same partitioner."""
    name = topic(settings, "one-murmur2")
    ensure_topics(settings, [TopicSpec(name, 4)])
    keys = [f"email_hash:{n:064x}".encode() for n in range(40)]
    producer = KafkaProducer(**producer_options(settings))
    try:
        sent = [producer.send(name, key=key, value=b"v").get(timeout=30).partition for key in keys]
    finally:
        producer.close()
    assert sent == [partition_of(key, 4) for key in keys] and len(set(sent)) == 4
    assert faust_app(settings, "partitioner-check").conf.producer_partitioner is partitioner


@given(st.binary(max_size=200))
def test_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == kafka_murmur2(key)


class HeldPartitionProducer:
    """A fake aiokafka producer whose partition 1 accepts nothing until `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.queued: list[tuple[int, int]] = []  # (partition, the batch's record count as its name)

    async def send_batch(self, batch: BuiltBatch, topic: str, *, partition: int) -> asyncio.Future[None]:
        if partition == 1:
            await self.release.wait()
        self.queued.append((partition, batch.record_count()))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_a_later_call_never_queues_a_partitions_batch_before_an_earlier_calls() -> None:
    """The first call waits on partition 1 before queueing its partition-0 batch; the second
    call's partition-0 batch must still go after it (one customer's events stay in order)."""
    sender = SyncBatchSender(Settings())
    sender._thread.start()
    fake = sender._producer = HeldPartitionProducer()
    first = asyncio.run_coroutine_threadsafe(sender._send([("t", 1, BuiltBatch(bytearray(), 1)),
                                                           ("t", 0, BuiltBatch(bytearray(), 2))]), sender._loop)
    second = asyncio.run_coroutine_threadsafe(sender._send([("t", 0, BuiltBatch(bytearray(), 3))]), sender._loop)

    async def release_after_the_second_call_ran() -> None:
        for _ in range(5):  # the second call's task gets its turns: queued (wrong) or waiting (right)
            await asyncio.sleep(0)
        fake.release.set()

    asyncio.run_coroutine_threadsafe(release_after_the_second_call_ran(), sender._loop).result(10)
    assert first.result(10) == 1 + 1 and second.result(10) == 1
    assert fake.queued == [(1, 1), (0, 2), (0, 3)]
    sender._producer = None
    sender.close()
