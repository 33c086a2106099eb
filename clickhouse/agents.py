"""ClickHouse stage, Kafka adapter: the sink that drains the output topics into the warehouse.

The sink reads the output topics in whole fetches with an aiokafka consumer of its own, not
through Faust's per-message stream: at two or three output records per event, Faust's conductor,
stream and acknowledgement machinery cost the embedded worker more than its stitching. Each
batch (up to MAX_BATCH_RECORDS records, gathered for at most FLUSH_INTERVAL_S) is decoded
(clickhouse/sink.py) and inserted, per topic, with the WarehouseWriter on one dedicated thread
(the warehouse client is blocking; the event loop goes on meanwhile). Offsets are committed only
after the whole batch was written: while the warehouse fails, the same batch is retried with
bounded exponential backoff and each failure counted into pipeline_health, so nothing is lost;
a batch read again after a crash or a rebalance is written again, and deterministic ids,
versions and insert deduplication tokens make that change nothing.
A batch the warehouse keeps refusing while it answers queries (a record it cannot take, a table
that no longer fits the records) would stop the sink for good: after
`clickhouse.refused_batch_after_s` it is split in halves until the refused records stand alone,
and those are written to dead_letters with the warehouse's reason and their topic position.

Before writing, each record is screened against the erasure list (foundation.erasure_list), loaded
when the sink is attached and followed while it runs: a record that names an erased customer is
not written, so a sink that reads the topics again from the start (a new group, `journeys sink`
after `journeys forget`) does not write the customer back. Null values (the tombstones forget
puts on the compacted topics) are not records and are passed over.

`attach_sink(app, settings)` runs the sink as a task of any Faust app: journeys.bootstrap attaches
it to the worker's (`journeys worker --sink` runs the stream processor and the sink in one process,
which then owns the chDB warehouse; its group is `<worker app id>-sink`); this stage never imports
the worker. `sink_app(settings)` builds a Faust app with only the sink (`journeys sink`, group
`<prefix>journeys-sink`), with the project's one Faust app builder (foundation.faust_app).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from pydantic import BaseModel

from clickhouse.client import connect
from clickhouse.sink import SINK_TOPICS, SinkHealth, WarehouseWriter, backoff_s, decode, refused
from foundation import erasure_list
from foundation.faust_app import faust_app
from foundation.kafka import aiokafka_consumer_options, commit_handled, consume_in, gathered, topic
from foundation.settings import Settings
from schemas.erasure import ErasureList
from schemas.outputs import HealthSample

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 5000
FLUSH_INTERVAL_S = 1.0
POLL_TIMEOUT_MS = 500
SINK_APP_NAME = "journeys-sink"
Origin = tuple[str, datetime]  # where a record was read (topic/partition/offset) and its message time


class WarehousePort:
    """The writer and its one thread: every warehouse call of the sink happens on that thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse-sink")
        self._writer: WarehouseWriter | None = None
        self.health = SinkHealth()
        self.records_written = 0
        # Health samples written, per reporter (host:pid): a worker leaving on an idle exit waits for its own
        # last samples, not for any records (the sink may still be writing outputs it fetched late).
        self.samples_written: Counter[str] = Counter()
        self.last_work_s = 0.0  # time.monotonic() of the last batch taken or written

    def _write(self, batch: Sequence[BaseModel]) -> int:
        rows = self._writer_now().write(batch)
        self.records_written += len(batch)
        self.samples_written.update(r.reporter for r in batch if isinstance(r, HealthSample))
        return rows

    def _writer_now(self) -> WarehouseWriter:
        if self._writer is None:
            self._writer = WarehouseWriter(connect(self._settings), self.health)
        return self._writer

    def _answers(self) -> bool:
        try:
            self._writer_now().ping()
            return True
        except Exception:
            return False

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def write_until_done(self, batch: Sequence[BaseModel], label: str,
                               sources: Sequence[Origin] | None = None, may_split: bool = True) -> int:
        """Insert the batch, retrying with backoff until it succeeds; returns rows written.

        `sources` (topic/partition/offset and message time per record) name the records that end as dead
        letters (their time is the message's, so a replayed batch gives the same dead letters).
        Dead letters themselves are never split (`may_split=False`): if even they are refused, the
        sink keeps retrying, and the records stay on their topic.
        """
        attempt, failing_since = 0, time.monotonic()
        while True:
            self.last_work_s = time.monotonic()  # also while retrying: the sink is not idle
            try:
                rows: int = await self._call(self._write, batch)
                self.last_work_s = time.monotonic()
                return rows
            except Exception as err:
                attempt += 1
                self.health.failed(err)
                refusing = time.monotonic() - failing_since >= self._settings.clickhouse.refused_batch_after_s
                if may_split and refusing and await self._call(self._answers):
                    log.error("sink %s: the warehouse answers but refuses a batch of %d records for %.0f s: "
                              "writing what it takes, dead-lettering the rest: %s", label, len(batch),
                              time.monotonic() - failing_since, err)
                    return await self._split(batch, sources or [(f"sink:{label}", datetime.now(UTC))] * len(batch), label)
                delay = backoff_s(attempt)
                log.warning("sink %s: insert of %d records failed (attempt %d), retrying in %.1f s: %s",
                            label, len(batch), attempt, delay, err)
                await asyncio.sleep(delay)

    async def _split(self, batch: Sequence[BaseModel], sources: Sequence[Origin], label: str) -> int:
        """Write the halves that go in; a record refused on its own becomes a dead letter."""
        try:
            rows: int = await self._call(self._write, batch)
            return rows
        except Exception as err:
            self.health.failed(err)
            if len(batch) == 1:
                letter = refused(label, batch[0], *sources[0], err)
                return await self.write_until_done([letter], label, may_split=False)
            half = len(batch) // 2
            return (await self._split(batch[:half], sources[:half], label)
                    + await self._split(batch[half:], sources[half:], label))


def sink_group(app_id: str) -> str:
    """The sink's consumer group beside the Faust app `app_id` (the embedded worker's)."""
    return f"{app_id}-sink"


def attach_sink(app: faust.App, settings: Settings, group_id: str | None = None) -> WarehousePort:
    """Run the sink as a task of `app` (consumer group `group_id`, or `<app id>-sink`); returns its port."""
    port = WarehousePort(settings)
    group = group_id or sink_group(app.conf.id)
    erasures = erasure_list.attach(app, settings)  # loaded before the first batch is read

    async def sink() -> None:
        consumer = AIOKafkaConsumer(*(topic(settings, kind) for kind in SINK_TOPICS),
                                    **aiokafka_consumer_options(settings, group, MAX_BATCH_RECORDS))
        await consume_in(app, consumer, lambda c: _drain(c, port, settings, erasures))

    app.task(sink)
    return port


async def _drain(consumer: AIOKafkaConsumer, port: WarehousePort, settings: Settings, erasures: ErasureList) -> None:
    """Batches of output messages -> records (or dead letters), less the erased -> the warehouse -> commit."""
    prefix = len(settings.kafka.topic_prefix)
    while True:
        messages = await gathered(consumer, MAX_BATCH_RECORDS, FLUSH_INTERVAL_S, POLL_TIMEOUT_MS)
        by_kind: dict[str, tuple[list[BaseModel], list[Origin]]] = {}
        for message in messages:
            if message.value is None:  # a tombstone on a compacted topic: nothing to write
                continue
            kind = message.topic[prefix:]
            origin = (f"topic:{message.topic}/{message.partition}/{message.offset}",
                      datetime.fromtimestamp(message.timestamp / 1000, UTC))
            record = decode(kind, bytes(message.value), *origin)
            if erasures.refuses_record(record):  # an erased customer's: never written back
                continue
            records, sources = by_kind.setdefault(kind, ([], []))
            records.append(record)
            sources.append(origin)
        for kind, (records, sources) in by_kind.items():
            await port.write_until_done(records, kind, sources)
        if messages:
            await commit_handled(consumer)


def sink_app(settings: Settings, name: str = SINK_APP_NAME) -> tuple[faust.App, WarehousePort]:
    """A Faust app running only the sink; its consumer group (and app id) carries the prefix.

    A different `name` is a different consumer group: it reads every topic again from offset 0.
    """
    group = f"{settings.kafka.topic_prefix}{name}"
    # Faust's own consumer reads nothing here (the sink's group is `group`), but it still joins a
    # group of its own: the builder keeps that join fast.
    app = faust_app(settings, f"{group}-app", web_enabled=False, topic_allow_declare=False,
                    datadir=str(settings.data_dir / "sink"))  # Faust's own files, beside the worker's (not the cwd)
    return app, attach_sink(app, settings, group)


async def run_until(app: faust.App, done: Callable[[], Coroutine[Any, Any, bool]],
                    poll_s: float = 0.2) -> None:
    """Run the app in this event loop until `done()` says so, then stop it cleanly."""
    await app.start()
    try:
        while not await done():
            await asyncio.sleep(poll_s)
    finally:
        await app.stop()
