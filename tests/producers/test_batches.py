"""Record batches built and compressed by the bulk path read back as Kafka clients read them."""

from __future__ import annotations

import os

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBase
from aiokafka.record.memory_records import MemoryRecords
from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_murmur2

from producers.batches import BATCH_BYTES, OpenBatch, key_hash, murmur2


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
        assert batch.add(key, value)
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
    assert not batch.add(b"k", big)
    huge = OpenBatch()
    assert huge.add(b"k", b"y" * (BATCH_BYTES + 1))
    assert read_back(batch.close()._build())[0] == [(b"k", big), (b"k", big)]


def test_the_key_hash_picks_the_default_partitioners_partition() -> None:
    keys = [f"anonymous_id:a-{n:016x}".encode() for n in range(200)]
    partitions = list(range(4))
    assert [key_hash(k) % 4 for k in keys] == [DefaultPartitioner()(k, partitions, partitions) for k in keys]


@given(st.binary(max_size=200))
def test_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == kafka_murmur2(key)
