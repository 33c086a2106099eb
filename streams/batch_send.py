"""Streams adapter: output records sent in whole record batches, on the Faust app's own producer.

Faust sends every record on its own (a future, a callback and several awaits each), and a table
write goes one message at a time through its changelog buffer: at two or three records per
event that cost more than the stitching. The stitch stage sends hundreds of records per batch,
so this sender runs the project's one batch sender (foundation.batch_send) on the producer Faust
itself runs: records appended to one aiokafka record batch per topic partition (the producer's
codec), each batch handed over once. `confirm()` awaits every batch handed over (and any other
send's future given to `track`) and raises the first failed delivery as a DeliveryError, so a
stage never writes state or lets an offset be committed over work that did not arrive. Keys are
partitioned by foundation.batches' murmur2, the one every producer here uses. What is the
worker's own: several stages share the sender (a lock), and `send_whole`, changes that must land
together in one record batch of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka.producer.message_accumulator import BatchBuilder

from foundation.batch_send import Deliveries, PartitionBatches
from foundation.batches import partition_of

log = logging.getLogger(__name__)
MAX_REMEMBERED_KEYS = 200_000
# Every message (a work message, a record batch for changes that must land together) the worker
# sends stays under this as sent (compressed), under a broker's usual 1 MiB message limit and the
# producer's request limit. Changelog records pack 2-3x, so a whole batch is built from up to
# WHOLE_BATCH_RAW_BYTES of records first and cut only when it does not pack enough.
MAX_MESSAGE_BYTES = 900 * 1024
WHOLE_BATCH_RAW_BYTES = 8 * MAX_MESSAGE_BYTES


class BatchSender:
    """Collects (topic, key, value) records per partition; `flush()` hands the batches to the producer."""

    def __init__(self, producer: Callable[[], Any]) -> None:
        self._producer = producer  # the running aiokafka producer (the Faust app's own, in the worker)
        self.partitions: dict[str, int] = {}
        self.batches = PartitionBatches(lambda: self._producer().create_batch())
        self.known: dict[tuple[str, bytes], int] = {}
        self.deliveries = Deliveries()
        # The worker's stages are tasks of one event loop and share this sender: one may flush while
        # another is in the middle of adding (a full batch is handed over there). Batches are only
        # built and handed over under the lock, so no record goes into a batch already handed over.
        self.lock = asyncio.Lock()

    @property
    def unconfirmed(self) -> list[Any]:
        """The delivery futures handed over and not yet seen delivered."""
        return [delivery for _, _, delivery in self.deliveries.unconfirmed]

    async def add_many(self, records: Iterable[tuple[str, bytes, bytes | None]], partition: int | None = None) -> None:
        """Append (topic, key, value) records, to `partition` or to their key's (one await for many:
        at hundreds of records per batch, a coroutine per record cost more than the append)."""
        async with self.lock:
            batches, known = self.batches, self.known
            for topic, key, value in records:
                target = partition if partition is not None else known.get((topic, key))
                if target is None:
                    target = await self._partition_of(topic, key)
                if (full := batches.add((topic, target), key, value)) is not None:
                    await self.deliveries.hand_over(self._producer(), full, topic, target)

    async def flush(self) -> None:
        """Hand every open batch to the producer; `confirm()` waits for them to be delivered."""
        async with self.lock:
            for (topic, partition), batch in self.batches.take():
                await self.deliveries.hand_over(self._producer(), batch, topic, partition)

    async def send_whole(self, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]) -> None:
        """Send records as one record batch of their own, appended by the broker whole or not at all.

        The batch may be larger than the producer's usual batch size: up to MAX_MESSAGE_BYTES as
        sent, compressed with the producer's codec. What does not fit even then goes in several
        batches, with a warning (atomicity is lost: raise the broker's message limit and this one).
        """
        async with self.lock:
            await self._send_whole(topic, partition, records)

    async def _send_whole(self, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]) -> None:
        if not records:
            return
        producer = self._producer()
        compression = producer._message_accumulator._compression_type
        whole = BatchBuilder(WHOLE_BATCH_RAW_BYTES, compression)
        if (all(whole.append(key=key, value=value, timestamp=None) is not None for key, value in records)
                and len(whole._build()) <= MAX_MESSAGE_BYTES):  # built (compressed) once, sent as it is
            await self.deliveries.hand_over(producer, whole, topic, partition)
            return
        log.warning("%d records for %s/%s exceed one batch of %d bytes: sent in several", len(records),
                    topic, partition, MAX_MESSAGE_BYTES)
        # raw size capped: packed, it fits too
        pieces = PartitionBatches(lambda: BatchBuilder(MAX_MESSAGE_BYTES, compression))
        for key, value in records:
            if (full := pieces.add((topic, partition), key, value)) is not None:
                await self.deliveries.hand_over(producer, full, topic, partition)
        for _, batch in pieces.take():
            await self.deliveries.hand_over(producer, batch, topic, partition)

    def track(self, delivery: Any, topic: str = "(record)", partition: int | None = None) -> None:
        """Also confirm this delivery future (a record sent on the producer directly)."""
        self.deliveries.track(delivery, topic, partition)

    async def confirm(self) -> None:
        """Flush, then wait until everything handed over is delivered; raises the first failed
        delivery as a DeliveryError (foundation.batch_send.Deliveries.confirm: concurrent confirms
        each wait for all handed over before them; a failure is raised by every later confirm)."""
        await self.flush()
        await self.deliveries.confirm()

    async def _partition_of(self, topic: str, key: bytes) -> int:
        """murmur2 in pure Python costs more than the send itself: remembered per key (a cache)."""
        known = self.known.get((topic, key))
        if known is None:
            if len(self.known) > MAX_REMEMBERED_KEYS:
                self.known.clear()
            known = self.known[topic, key] = partition_of(key, await self._partitions(topic))
        return known

    async def _partitions(self, topic: str) -> int:
        """How many partitions the topic has (numbered from 0, as Kafka numbers them)."""
        if topic not in self.partitions:
            self.partitions[topic] = len(await self._producer().partitions_for(topic))
        return self.partitions[topic]
