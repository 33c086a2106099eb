"""Foundation: records sent in whole record batches, one per topic partition, and their deliveries
confirmed: the one batch sender under the producers' bulk path and the stream worker's outputs.

A Kafka client sends every record on its own (a future, a callback and several awaits each); at
hundreds of records per call that costs more than the work that made them. Both the bulk path
(producers.fastpath: a synchronous front on its own event-loop thread, lz4-compressed batches
built in the caller's thread) and the worker (streams.batch_send, on the Faust app's producer)
therefore append records to one batch per topic partition (`PartitionBatches`; keys partitioned
by foundation.batches' murmur2) and hand each batch to an aiokafka producer whole
(`Deliveries.hand_over`). A producer's flush only waits for deliveries, it does not report failed
ones: `Deliveries.confirm` awaits every batch handed over and raises the first failure as a
DeliveryError naming its topic and partition, so no caller reports records as sent, writes state
or lets an offset be committed over work that did not arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka.errors import KafkaTimeoutError

from schemas.errors import DeliveryError

Where = tuple[str, int]  # (topic, partition)


class PartitionBatches:
    """Open record batches per topic partition. A batch is anything with the append of aiokafka's
    batch builders (`append(timestamp=, key=, value=)`, None when full): theirs, or
    foundation.batches.OpenBatch."""

    __slots__ = ("new_batch", "open")

    def __init__(self, new_batch: Callable[[], Any]) -> None:
        self.new_batch = new_batch
        self.open: dict[Where, Any] = {}

    def add(self, where: Where, key: bytes | None, value: bytes | None) -> Any | None:
        """Append one record; returns the batch it did not fit in (full: hand it over), else None."""
        batch = self.open.get(where)
        if batch is None:
            batch = self.open[where] = self.new_batch()
        if batch.append(timestamp=None, key=key, value=value) is not None:
            return None
        fresh = self.open[where] = self.new_batch()  # an empty batch takes any record
        fresh.append(timestamp=None, key=key, value=value)
        return batch

    def take(self) -> list[tuple[Where, Any]]:
        """The open batches (in the order they were opened), and none open any more."""
        batches, self.open = self.open, {}
        return list(batches.items())


class Deliveries:
    """Deliveries handed over and not yet seen delivered; `confirm` raises the first failure."""

    def __init__(self) -> None:
        self.unconfirmed: list[tuple[str, int | None, Any]] = []  # (topic, partition, delivery future)

    async def hand_over(self, producer: Any, batch: Any, topic: str, partition: int, outage_s: float = 0.0) -> None:
        """Queue one batch on the aiokafka producer (this waits while the partition's previous batch
        is unsent). While the broker is unreachable queueing times out, and nothing was queued, so
        it is tried again for up to `outage_s` (docs/operations.md, outages)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + outage_s
        while True:
            try:
                delivery = await producer.send_batch(batch, topic, partition=partition)
                break
            except KafkaTimeoutError:
                if loop.time() >= deadline:
                    raise
        self.unconfirmed.append((topic, partition, delivery))

    def track(self, delivery: Any, topic: str, partition: int | None) -> None:
        """Also confirm this delivery future (a record sent on the producer directly)."""
        self.unconfirmed.append((topic, partition, delivery))

    async def confirm(self) -> None:
        """Wait until everything handed over before this call is delivered; raises the first failure.

        Another task may be confirming at the same time: each waits for all that was handed over
        before it was called, including what the other is already waiting for. A failed delivery
        stays unconfirmed, so every later confirm raises it too.
        """
        pending = list(self.unconfirmed)
        for topic, partition, delivery in pending:
            try:
                await delivery
            except Exception as err:  # the broker did not take it (aiokafka's KafkaError, or Faust's)
                raise DeliveryError(topic, partition, str(err) or type(err).__name__) from err
        # only what this call saw delivered: a delivery handed over meanwhile may have failed already
        confirmed = {id(delivery) for _, _, delivery in pending}
        self.unconfirmed = [each for each in self.unconfirmed if id(each[2]) not in confirmed]
