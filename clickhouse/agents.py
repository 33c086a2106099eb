"""ClickHouse stage, Faust adapter: agents that drain the output topics into the warehouse.

One agent per output topic takes batches (`take_events(MAX_BATCH_RECORDS, within=FLUSH_INTERVAL_S)`),
decodes them (clickhouse/sink.py), and inserts them with the WarehouseWriter on one dedicated
thread (the warehouse client is blocking; the event loop keeps heartbeating meanwhile). Faust
acknowledges a batch only when the agent asks for the next one, i.e. after the insert
succeeded; while the warehouse fails, the agent retries the same batch with bounded exponential
backoff and counts each failure into pipeline_health, so nothing is lost and nothing doubled.
A batch the warehouse keeps refusing while it answers queries (a record it cannot take, a table
that no longer fits the records) would stop its topic for good: after
`clickhouse.refused_batch_after_s` it is split in halves until the refused records stand alone,
and those are written to dead_letters with the warehouse's reason and their topic position.
Faust's consumer can skip messages around a rebalance while counting them as done: each agent
keeps the next offset per partition it took (journeys.gaps), reads a skipped stretch back from the
topic into the same batch, and passes over messages it re-delivers that this process took already.

`attach_sink(app, settings)` adds the agents to any Faust app (the embedded worker runs the
stream processor and the sink in one process, which then owns the chDB warehouse);
`sink_app(settings)` builds a Faust app with only the sink (`journeys sink`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import faust
from pydantic import BaseModel

from clickhouse.client import connect
from clickhouse.sink import SINK_TOPICS, SinkHealth, WarehouseWriter, backoff_s, decode, refused
from journeys.gaps import mark_key, unapplied
from journeys.kafka import topic
from journeys.settings import KafkaSettings, Settings

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 5000
FLUSH_INTERVAL_S = 1.0
MIN_SESSION_TIMEOUT_S = 3.0
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
        self.last_work_s = 0.0  # time.monotonic() of the last batch taken or written

    def _write(self, batch: Sequence[BaseModel]) -> int:
        rows = self._writer_now().write(batch)
        self.records_written += len(batch)
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


def attach_sink(app: faust.App, settings: Settings) -> WarehousePort:
    """Add one sink agent per output topic to `app`; returns the port (its health, for tests)."""
    port = WarehousePort(settings)
    for kind in SINK_TOPICS:
        source = app.topic(topic(settings, kind), key_type=bytes, value_type=bytes,
                           key_serializer="raw", value_serializer="raw")
        app.agent(source, name=f"journeys-sink-{kind}")(_sink_agent(kind, port, settings))
    return port


def _sink_agent(kind: str, port: WarehousePort, settings: Settings) -> Callable[[Any], Coroutine[Any, Any, None]]:
    async def sink(stream: Any) -> None:  # a faust Stream: take_events is not on the StreamT protocol
        # (topic message bytes) -> [record | DeadLetter] -> warehouse rows
        marks: dict[str, int] = {}  # next offset per partition of this topic (journeys.gaps)
        async for events in stream.take_events(MAX_BATCH_RECORDS, within=FLUSH_INTERVAL_S):
            batch: list[BaseModel] = []
            sources: list[Origin] = []
            for event in events:
                message = event.message
                for offset, timestamp_ms, value in await unapplied(marks, settings, message):
                    origin = (f"topic:{message.topic}/{message.partition}/{offset}",
                              datetime.fromtimestamp(timestamp_ms / 1000, UTC))
                    batch.append(decode(kind, bytes(value or b""), *origin))
                    sources.append(origin)
                    marks[mark_key(message.partition)] = offset + 1
            if batch:
                await port.write_until_done(batch, kind, sources)
    sink.__name__ = sink.__qualname__ = f"sink_{kind.replace('.', '_')}"
    return sink


def sink_app(settings: Settings, name: str = SINK_APP_NAME) -> tuple[faust.App, WarehousePort]:
    """A Faust app running only the sink; its id (so its group and internal topics) carries the prefix.

    A different `name` is a different consumer group: it reads every topic again from offset 0.
    """
    session_s = max(MIN_SESSION_TIMEOUT_S, settings.kafka.session_timeout_ms / 1000)
    app = faust.App(
        f"{settings.kafka.topic_prefix}{name}",
        broker=[f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(settings.kafka),
        broker_session_timeout=session_s,
        broker_heartbeat_interval=session_s / 3,
        broker_rebalance_timeout=2 * session_s,
        table_standby_replicas=0,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        topic_allow_declare=False,
        datadir=str(settings.data_dir / "sink"),  # Faust's own files, beside the worker's (not the cwd)
    )
    return app, attach_sink(app, settings)


def broker_credentials(kafka: KafkaSettings) -> faust.types.auth.CredentialsT | None:
    """The Kafka security settings, spelled for Faust (None for PLAINTEXT): journeys.kafka decides."""
    from journeys.kafka import faust_credentials

    credentials: faust.types.auth.CredentialsT | None = faust_credentials(kafka)
    return credentials


async def run_until(app: faust.App, done: Callable[[], Coroutine[Any, Any, bool]],
                    poll_s: float = 0.2) -> None:
    """Run the app in this event loop until `done()` says so, then stop it cleanly."""
    await app.start()
    try:
        while not await done():
            await asyncio.sleep(poll_s)
    finally:
        await app.stop()
