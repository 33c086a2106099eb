"""Streams stage, Faust adapter: the worker that turns raw touchpoints into journeys and friction.

Topology (every topic name carries the settings' topic prefix, and so does the app id, so its
changelog topics and consumer group never collide with another deployment or test):

    touchpoints.<channel> (N partitions)
      | 1. validate    whole fetches of raw messages (streams.intake); bad ones -> touchpoints.deadletter
      v                # one message = [record, ...] (compact records, streams.core.records), packed
    streams.identity (1 partition: identity decisions are global and ordered)
      | 2. resolve     identity graph (owner, members, devices, evidence) -> identity.links
      v                # one message per customer partition = [command, ...] (streams.core.routing), packed
    streams.customers (N partitions, by customer_id)
      | 3. stitch      customer state in one table keyed by customer_id -> journeys.steps,
      v                journeys.state, journeys.friction; merges forward the absorbed events
                       to the survivor's partition

Work between stages travels in batches (one Kafka message per batch and partition), so Faust's
per-message cost is paid once per batch and each customer's state is read and written once per
batch. The raw topics bypass Faust's per-message stream (streams.intake reads whole fetches);
stages 2 and 3 send their output records and table changelog writes in record batches
(streams.batch_send, streams.table_writes) and render outputs as documents, not models
(streams.core.documents); decoded states and layouts stay in memory between batches. Tables live
in RocksDB (`store = "rocksdb://"`) or memory (tests), recovered from their changelogs on start.

Crash safety. Outputs carry deterministic ids and versions; a replayed event is a duplicate that
re-sends the current records, lateness is judged by received time, and a merge's survivor re-sends
everything above the absorbed customer's version, so replays and re-routed events give the same
journeys. Each stage waits until its work for the next stage is acknowledged (delivery errors
raise) before it writes the state that produced it, and until that state's changelog is
acknowledged before it takes the next message. Stages 2 and 3 keep how far they have applied each
input partition beside their state (journeys.gaps): after a restart Faust's consumer re-delivers
work already applied (skipped) and can skip messages around a rebalance while acknowledging them
(read back from the topic and applied first), so each message changes the state exactly once.
Health samples count events and dead letters per channel and minute, with the consumer lag of
each raw channel and of stages 2 and 3 (`stage:identity`, `stage:customers`), taken from fetch
responses' high watermarks (right on the local broker too, unlike its ListOffsets). `streams.app` builds `app` from the settings for
`faust -A streams.app worker`; `journeys worker` calls `create_app` itself.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import faust
from pydantic import BaseModel

from journeys.gaps import mark_key, unapplied
from journeys.kafka import faust_credentials, topic
from journeys.settings import Settings
from schemas.journeymap import JourneyMap, load_journey_map
from schemas.outputs import (
    DEADLETTER_TOPIC,
    FRICTION_TOPIC,
    HEALTH_TOPIC,
    IDENTITY_TOPIC,
    STATE_TOPIC,
    STEPS_TOPIC,
    DeadLetter,
    FrictionEvent,
    HealthSample,
    IdentityLink,
    JourneySnapshot,
    JourneyStep,
)
from schemas.validation import Rejection
from streams import erasure, tansu_fixes
from streams.batch_send import BatchSender
from streams.checking import Checker
from streams.core.documents import DOCUMENTS, encode
from streams.core.identity import IdentityGraph
from streams.core.routing import (
    WORK_MESSAGE_BYTES,
    Memory,
    PartitionWork,
    Routed,
    route_identity,
    unpack,
    work_messages,
)
from streams.health import HealthCounter
from streams.intake import intake
from streams.pools import tune_gc
from streams.table_writes import BufferedTable, Prefixed

log = logging.getLogger(__name__)
IDENTITY_WORK_TOPIC = "streams.identity"
GRAPH_PREFIXES = ("o:", "m:", "d:", "v:")  # owner, members, devices, evidence (streams.core.identity) in one table
CUSTOMER_WORK_TOPIC = "streams.customers"
# Health lag of the internal stages, reported beside the raw channels' own.
IDENTITY_LAG_CHANNEL = "stage:identity"
CUSTOMER_LAG_CHANNEL = "stage:customers"
HEALTH_INTERVAL_S = 10.0
IDLE_CHECK_S = 1.0
MIN_SESSION_TIMEOUT_S = 3.0
BATCH_KEY = b"batch"
PRODUCER_LINGER_MS = 0
PRODUCER_BATCH_BYTES = 256 * 1024
# Everything the worker sends (outputs, work, changelogs) goes compressed: on the local broker
# that took ~30 % off its CPU per event. Snappy is cheap to write; aiokafka writes lz4 at its
# slowest, tightest level, which cost the worker more than the broker saved.
PRODUCER_COMPRESSION = "snappy"
# Table writes wait in Faust's changelog buffer; past this many the stream pauses to flush them.
CHANGELOG_BUFFER_MESSAGES = 10_000


def app_id(settings: Settings) -> str:
    return f"{settings.kafka.topic_prefix}journeys-worker"


def create_app(settings: Settings, journey_map: JourneyMap | None = None, exit_when_idle_s: float = 0.0,
               sink: bool = False) -> faust.App:
    """The Faust app, wired from the settings only (optionally with the warehouse sink, and
    stopping itself once idle: once neither the stages nor the sink have had work for a while)."""
    tansu_fixes.install(settings)
    session_s = max(settings.kafka.session_timeout_ms / 1000, MIN_SESSION_TIMEOUT_S)
    app = faust.App(
        app_id(settings), broker=[f"kafka://{s}" for s in settings.kafka.bootstrap_servers.split(",") if s],
        store=settings.streams.store, datadir=str(settings.data_dir / "streams"),
        topic_partitions=settings.kafka.partitions, topic_replication_factor=settings.kafka.replication_factor,
        table_standby_replicas=settings.streams.standby_replicas, consumer_auto_offset_reset="earliest",
        broker_credentials=faust_credentials(settings.kafka), broker_session_timeout=session_s, broker_heartbeat_interval=session_s / 3,
        broker_rebalance_timeout=2 * session_s, web_enabled=settings.streams.web_port > 0,
        web_port=settings.streams.web_port or 6066, key_serializer="raw", value_serializer="raw",
        producer_linger_ms=PRODUCER_LINGER_MS, producer_max_batch_size=PRODUCER_BATCH_BYTES, logging_config=None,
        producer_compression_type=PRODUCER_COMPRESSION)
    app.producer.buffer.max_messages = CHANGELOG_BUFFER_MESSAGES
    stages = Stages(app, settings, journey_map or load_journey_map(settings.journey_map))
    if sink:
        from clickhouse.agents import attach_sink

        port = attach_sink(app, settings)
        stages.also_busy.append(lambda: port.last_work_s)
    tune_gc()
    if exit_when_idle_s > 0:
        app.timer(IDLE_CHECK_S)(stages.exit_when_idle(exit_when_idle_s))
    return app


class Stages:
    """The three agents and their tables; thin: decode, call the core, send."""

    def __init__(self, app: faust.App, settings: Settings, journey_map: JourneyMap) -> None:
        self.app, self.settings, self.map = app, settings, journey_map
        self.partitions = settings.kafka.partitions
        self.health = HealthCounter(reporter=f"{socket.gethostname()}:{os.getpid()}")
        self.erased = erasure.attach(app, settings)  # tokens of forgotten customers' identifiers
        self.checker = Checker(journey_map, settings.streams.check_processes)
        self.last_work_s = 0.0
        self.also_busy: list[Callable[[], float]] = []  # when other agents of the app last worked (the sink)
        self.memory: Memory = {}
        producer: Any = app.producer  # Faust's aiokafka transport: it runs the aiokafka producer
        self.batch = BatchSender(lambda: producer._ensure_producer())
        self.names = {name: topic(settings, name) for name in (STEPS_TOPIC, STATE_TOPIC, FRICTION_TOPIC, IDENTITY_TOPIC)}
        self.identity_work = app.topic(topic(settings, IDENTITY_WORK_TOPIC), partitions=1,
                                       key_type=bytes, value_type=bytes)
        self.customer_work = app.topic(topic(settings, CUSTOMER_WORK_TOPIC), partitions=self.partitions,
                                       key_type=bytes, value_type=bytes)
        # the graph's three mappings share one table: one message's changes go out as one record batch
        self.graph_table = BufferedTable(self._table("identity-graph", 1))
        self.graph = IdentityGraph(journey_map, *(Prefixed(self.graph_table, prefix) for prefix in GRAPH_PREFIXES))
        self.states = BufferedTable(app.Table("customer-state", default=None, partitions=self.partitions,
                                              key_type=str, value_type=bytes))
        app.task(intake(app, settings, f"{app_id(settings)}-intake", self.validate, self.raw_lag))
        # A failing agent would be restarted by Faust in this process, over tables and pending writes
        # its failure left half done: the worker stops instead (restarted, it recovers from the changelogs).
        app.agent(self.identity_work, name="resolve")(self.stopping_on_failure("resolve", self.resolve))
        app.agent(self.customer_work, name="stitch")(self.stopping_on_failure("stitch", self.stitch))
        app.timer(HEALTH_INTERVAL_S)(self.flush_health)

    def _table(self, name: str, partitions: int) -> Any:
        return self.app.Table(name, default=None, partitions=partitions, key_type=str)

    def stopping_on_failure(self, stage: str, body: Callable[[Any], Coroutine[Any, Any, None]]
                            ) -> Callable[[Any], Coroutine[Any, Any, None]]:
        """The stage's agent function; a failure stops the worker (see consume_in for the other tasks)."""
        async def agent(stream: Any) -> None:
            try:
                await body(stream)
            except Exception as error:
                log.error("stage %s failed, the worker stops: %r", stage, error)
                await self.app.crash(error)
                raise
        agent.__doc__ = body.__doc__
        return agent

    def raw_lag(self, name: str, behind: int) -> None:
        self.health.lag(time.time(), channel_of(name), behind)

    def work_lag(self, channel: str, message: Any) -> None:
        """How far this stage is behind on its work topic partition (high watermark of the last fetch)."""
        high = self.app.consumer.highwater(message.tp)
        if high is not None:
            self.health.lag(time.time(), channel, high - message.offset - 1)

    async def validate(self, messages: list[Any]) -> None:
        """Stage 1: raw messages -> compact records for the identity stage; bad ones dead-lettered.

        Returns once all it produced is delivered, so streams.intake may commit the raw offsets.
        """
        self.last_work_s = time.monotonic()
        payloads = [(message.value, f"topic:{message.topic}/{message.partition}/{message.offset}")
                    for message in messages]
        checked = await self.checker.check(payloads, frozenset(self.erased))
        now_s, dead = time.time(), Counter(messages[position].topic for position, _ in checked.rejected)
        for name, count in Counter(message.topic for message in messages).items():
            self.health.count(now_s, channel_of(name), False, count - dead[name])
            self.health.count(now_s, channel_of(name), True, dead[name])
        for position, rejection in checked.rejected:
            await self.publish(dead_letter(rejection, channel_of(messages[position].topic)))
        self.last_work_s = time.monotonic()
        for value in checked.work:
            await self.send(topic(self.settings, IDENTITY_WORK_TOPIC), BATCH_KEY, value, 0)
        await self.delivered()

    async def resolve(self, stream: Any) -> None:
        """Stage 2: resolve identity in order; route commands to the customers' partitions."""
        graph = self.graph_table  # also holds this stage's mark (journeys.gaps)
        async for event in stream.events():
            self.last_work_s = time.monotonic()
            message = event.message
            for offset, _, value in await unapplied(graph, self.settings, message):
                routed, links = route_identity(self.graph, unpack(value), self.partitions)
                links_topic = self.names[IDENTITY_TOPIC]
                await self.batch.add_many((links_topic, link.customer_id.encode(), link.model_dump_json().encode())
                                          for link in links)
                await self.route(routed)
                await self.delivered()  # commands (merges above all) are durable before the graph that made them
                graph[mark_key(message.partition)] = offset + 1
                await graph.flush(self.batch, message.partition, whole=True)  # all of it, or none after a crash
                await self.batch.flush()  # confirmed with the next message's work, or by Faust before a commit
            self.work_lag(IDENTITY_LAG_CHANNEL, message)

    async def stitch(self, stream: Any) -> None:
        """Stage 3: fold each customer's commands into its state; send what changed."""
        async for event in stream.events():
            self.last_work_s = time.monotonic()
            message = event.message
            for offset, _, value in await unapplied(self.states, self.settings, message):
                work = PartitionWork(self.map, self.partitions, self.states.get, self.memory, DOCUMENTS)
                outputs, forwards = work.handle_batch(unpack(value))
                names = self.names
                await self.batch.add_many((names[document.topic], document.key.encode(), encode(document))
                                          for document in outputs)
                await self.route(forwards)
                await self.delivered()  # outputs and forwarded events are durable before the states that sent them
                self.states.update(work.changed())
                await self.states.flush(self.batch, message.partition)
                # The states may take several record batches: they are durable before the mark that
                # says they were written, or a batch lost for good could leave the mark without them.
                await self.delivered()
                self.states[mark_key(message.partition)] = str(offset + 1).encode()
                await self.states.flush(self.batch, message.partition)
                await self.batch.flush()  # confirmed with the next message's work, or by Faust before a commit
            self.work_lag(CUSTOMER_LAG_CHANNEL, message)

    def exit_when_idle(self, idle_s: float) -> Callable[[], Coroutine[Any, Any, None]]:
        """A timer that stops the worker (as SIGTERM would) once work was done and none came for idle_s."""
        async def check() -> None:
            last = max([self.last_work_s, *(clock() for clock in self.also_busy)])
            if self.last_work_s and time.monotonic() - last > idle_s:
                for sample in self.health.closed(time.time(), everything=True):
                    await self.publish(sample)
                os.kill(os.getpid(), signal.SIGTERM)
        return check

    async def delivered(self) -> None:
        """Send what is queued and wait for the broker's acknowledgement of every record.

        A crash can come between any two sends. Work for the next stage is therefore acknowledged
        before the state change that produced it is written: after a crash the state is older, the
        input is replayed, and the same work is produced again (duplicates are harmless downstream).
        The other order could lose a merge or an absorbed customer's events. The state's own
        changelog is confirmed here too, with the next message's work: if it was not durable when
        Faust committed the input, the stage's mark (journeys.gaps) is behind after a restart and
        the message is read back. A failed delivery (a producer's flush does not report it) raises
        here and so stops the worker (`stopping_on_failure`, and consume_in for stage 1): its tables
        would otherwise run ahead of their changelogs.
        """
        await self.batch.confirm()

    async def route(self, routed: Routed) -> None:
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for partition, command in routed:
            by_partition[partition].append(command)
        for partition, commands in by_partition.items():
            await self.send_work(topic(self.settings, CUSTOMER_WORK_TOPIC), commands, partition)

    async def send_work(self, name: str, items: list[Any], partition: int) -> None:
        """Work for the next stage, cut to fit the broker's message size (streams.core.routing)."""
        for value in work_messages(items, WORK_MESSAGE_BYTES):
            await self.send(name, BATCH_KEY, value, partition)

    async def flush_health(self) -> None:
        for sample in self.health.closed(time.time()):
            await self.publish(sample)

    async def publish(self, record: BaseModel) -> None:
        name, key = output_topic_and_key(record)
        # serialize_as_any: a step's event is written whole, with its channel's measures
        await self.send(topic(self.settings, name), key.encode(), record.model_dump_json(serialize_as_any=True).encode(),
                        None)

    async def send(self, name: str, key: bytes, value: bytes, partition: int | None) -> None:
        self.batch.track(await self.app.producer.send(name, key, value, partition, None, None))


def channel_of(raw_topic: str) -> str:
    """The channel of a raw topic (`<prefix>touchpoints.<channel>`)."""
    return raw_topic.rsplit(".", 1)[-1]


def output_topic_and_key(record: BaseModel) -> tuple[str, str]:
    """Which output topic a record goes to, and its key (schemas/outputs.py)."""
    if isinstance(record, JourneyStep):
        return STEPS_TOPIC, record.customer_id
    if isinstance(record, JourneySnapshot):
        return STATE_TOPIC, record.journey_id
    if isinstance(record, FrictionEvent):
        return FRICTION_TOPIC, record.friction_id
    if isinstance(record, IdentityLink):
        return IDENTITY_TOPIC, record.customer_id
    if isinstance(record, HealthSample):
        return HEALTH_TOPIC, record.stage
    assert isinstance(record, DeadLetter)
    return DEADLETTER_TOPIC, record.source


def dead_letter(rejection: Rejection, channel: str) -> DeadLetter:
    return DeadLetter(source=rejection.source, reason=rejection.reason, kind=rejection.kind,
                      problems=tuple(str(p) for p in rejection.problems), payload=rejection.payload,
                      payload_encoding=rejection.payload_encoding,
                      channel=channel, rejected_at=datetime.now(UTC))
