"""Producers stage, bulk adapter: whole record batches to Kafka for the simulator and importers.

kafka-python builds each record in pure Python (about 22,000 events/s on two cores, measured in
bench/producers_bench.py); aiokafka's batch builder is compiled, so appending to a batch costs
about a microsecond, and the batches are built and compressed in the caller's thread
(foundation.batches: lz4's fast level). `SyncBatchSender` is the synchronous front of the project's one
batch sender (foundation.batch_send: batches per partition, handed over, deliveries confirmed): it
runs an aiokafka producer on a private event-loop thread that only ships the batches, and callers
never see asyncio. Records are partitioned by foundation.batches' murmur2 (Kafka's default
partitioner), so a customer's events land in the same partition whichever path published them;
`send_hashed` takes records whose key hash is already known. aiokafka's idempotent producer fails on the local broker,
so this path relies on acks=all and the pipeline's idempotent writes (event ids are deterministic).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

from aiokafka import AIOKafkaProducer

from foundation.batch_send import Deliveries, PartitionBatches
from foundation.batches import BATCH_BYTES, BuiltBatch, OpenBatch, key_hash
from foundation.kafka import PRODUCER_LINGER_MS, aiokafka_options
from foundation.settings import Settings
from schemas.errors import BrokerError, DeliveryError

MAX_PENDING_CALLS = 64  # submitted publish_many calls not yet confirmed before a call waits
START_TIMEOUT_S = 30.0
# While the broker is unreachable, queueing a batch times out (it was not queued, so queueing it
# again is safe); keep trying this long before giving up (docs/operations.md, outages).
ENQUEUE_DEADLINE_S = 120.0

Record = tuple[str, bytes, bytes]  # (topic, key, value)
HashedRecord = tuple[str, int, bytes, bytes]  # (topic, foundation.batches.key_hash(key), key, value)


class SyncBatchSender:
    """A synchronous front to an aiokafka producer that sends whole batches per partition."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="journeys-batch-sender",
                                        daemon=True)
        self._partitions: dict[str, int] = {}
        self._pending: deque[Future[int]] = deque()
        self._producer: Any = None
        self._queueing = asyncio.Lock()  # one call's batches are all queued before the next call's

    @classmethod
    def start(cls, settings: Settings) -> SyncBatchSender:
        sender = cls(settings)
        sender._thread.start()
        try:
            sender._producer = sender._call(sender._start_producer(), START_TIMEOUT_S)
        except Exception:
            sender.close()
            raise
        return sender

    async def _start_producer(self) -> Any:
        producer = AIOKafkaProducer(**aiokafka_options(self._settings), acks="all",
                                    compression_type="lz4", linger_ms=PRODUCER_LINGER_MS,
                                    max_batch_size=BATCH_BYTES, client_id="journeys-bulk")
        try:
            await producer.start()
        except Exception as err:
            await producer.stop()
            raise BrokerError(f"cannot reach Kafka at {self._settings.kafka.bootstrap_servers}: {err}") from err
        return producer

    def _call(self, coroutine: Any, timeout_s: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    def partitions(self, topic: str) -> int:
        if topic not in self._partitions:
            found = self._call(self._producer.partitions_for(topic), START_TIMEOUT_S)
            self._partitions[topic] = len(found)
        return self._partitions[topic]

    def send_many(self, records: Iterable[Record]) -> tuple[int, Future[int] | None]:
        """Batch and submit records: (how many, the future of their acknowledgement).

        `flush` also waits for every submission; a failed one raises DeliveryError there.
        """
        return self.send_hashed((topic, key_hash(key), key, value) for topic, key, value in records)

    def send_hashed(self, records: Iterable[HashedRecord]) -> tuple[int, Future[int] | None]:
        """`send_many` for records whose key hash is already known."""
        batches, count = self._build(records)
        submitted = None
        if batches:
            submitted = asyncio.run_coroutine_threadsafe(self._send(batches), self._loop)
            self._pending.append(submitted)
        while len(self._pending) > MAX_PENDING_CALLS:
            _confirmed(self._pending.popleft(), None)
        return count, submitted

    def _build(self, records: Iterable[HashedRecord]) -> tuple[list[tuple[str, int, BuiltBatch]], int]:
        """The records' batches, built and compressed here in the caller's thread (the loop's
        thread only ships them), in order per partition."""
        batches = PartitionBatches(OpenBatch)
        full: list[tuple[str, int, BuiltBatch]] = []
        count = 0
        partitions = self._partitions
        for topic, hashed, key, value in records:
            count += 1
            where = (topic, hashed % (partitions[topic] if topic in partitions else self.partitions(topic)))
            if (done := batches.add(where, key, value)) is not None:
                full.append((*where, done.close()))
        return full + [(*where, batch.close()) for where, batch in batches.take()], count

    async def _send(self, batches: list[tuple[str, int, BuiltBatch]]) -> int:
        """Queue in order, then await every ack. Calls queue one after another (the lock is fair,
        taken in call order): queueing waits while a partition's previous batch is unsent, and a
        later call's batch for that partition must not pass this one's meanwhile."""
        deliveries = Deliveries()
        async with self._queueing:
            for topic, partition, batch in batches:
                await deliveries.hand_over(self._producer, batch, topic, partition, ENQUEUE_DEADLINE_S)
        await deliveries.confirm()
        return len(batches)

    def flush(self, timeout_s: float) -> None:
        """Wait until every submitted batch is acknowledged; raises DeliveryError otherwise."""
        while self._pending:
            _confirmed(self._pending.popleft(), timeout_s)

    def close(self) -> None:
        if self._producer is not None:
            self._call(self._producer.stop(), START_TIMEOUT_S)
            self._producer = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_S)
        self._loop.close()


def _confirmed(submission: Future[int], timeout_s: float | None) -> None:
    """Wait for one submission; every failure surfaces as a DeliveryError."""
    try:
        submission.result(timeout_s)
    except DeliveryError:
        raise
    except TimeoutError as err:
        raise DeliveryError("(bulk)", None, f"not acknowledged within {timeout_s} s") from err
    except Exception as err:  # a failure before any partition was reached (metadata, connection)
        raise DeliveryError("(bulk)", None, str(err) or type(err).__name__) from err
