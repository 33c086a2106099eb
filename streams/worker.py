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
input partition beside their state (foundation.marks): after a restart Faust's consumer re-delivers
work already applied (skipped) and can skip messages around a rebalance while acknowledging them
(read back from the topic and applied first), so each message changes the state exactly once; a
mark beyond its partition's end (the log was reset under the state) stops the worker, exit code 2.
Health samples count events and dead letters per channel and minute, with the consumer lag of
each raw channel and of stages 2 and 3 (`stage:identity`, `stage:customers`), taken from fetch
responses' high watermarks (right on the local broker too, unlike its ListOffsets). `streams.app` builds `app` from the settings for
`faust -A streams.app worker`; `journeys worker` calls `create_app` itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError
from pydantic import BaseModel

from foundation.faust_app import faust_app
from foundation.kafka import topic
from foundation.marks import LogReset, expected_offset, fetch_highwaters, mark_key, unapplied
from foundation.settings import Settings
from schemas.deadletters import MAX_REASON_CHARS, clip, dead_letter_of
from schemas.journeymap import JourneyMap, load_journey_map
from schemas.outputs import (
    FRICTION_TOPIC,
    HEALTH_TOPIC,
    IDENTITY_TOPIC,
    STATE_TOPIC,
    STEPS_TOPIC,
    DeadLetter,
    topic_and_key,
)
from streams import erasure, tansu_fixes
from streams.batch_send import BatchSender
from streams.checking import Checker, raw_payloads
from streams.codecs import commands_of, encode_document, unpack
from streams.core.commands import Command, resolve
from streams.core.identity import IdentityGraph
from streams.core.stitching import Stitching
from streams.customer_states import CustomerStates, Memory
from streams.health import HealthCounter, written_by_sink
from streams.intake import intake
from streams.pools import tune_gc
from streams.table_writes import BufferedTable, Prefixed
from streams.work import by_partition, command_messages

log = logging.getLogger(__name__)
IDENTITY_WORK_TOPIC = "streams.identity"
GRAPH_PREFIXES = ("o:", "m:", "d:", "v:")  # owner, members, devices, evidence (streams.core.identity) in one table
CUSTOMER_WORK_TOPIC = "streams.customers"
# Health lag of the internal stages, reported beside the raw channels' own.
IDENTITY_LAG_CHANNEL = "stage:identity"
CUSTOMER_LAG_CHANNEL = "stage:customers"
HEALTH_INTERVAL_S = 10.0
IDLE_CHECK_S = 1.0
FINAL_HEALTH_WAIT_S = 30.0  # how long an idle exit waits for the embedded sink to store the last samples
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
               refusals: list[LogReset] | None = None) -> faust.App:
    """The Faust app with the stream stages only (journeys.bootstrap adds the warehouse sink)."""
    return build_stages(settings, journey_map, exit_when_idle_s, refusals).app


def build_stages(settings: Settings, journey_map: JourneyMap | None = None, exit_when_idle_s: float = 0.0,
                 refusals: list[LogReset] | None = None) -> Stages:
    """The worker's app and stages, wired from the settings only, stopping itself once idle (when
    `exit_when_idle_s` > 0: once neither the stages nor what `watch` was given had work for a while).
    A stage that refuses to go on (its log was reset) stops the worker and is added to `refusals`."""
    tansu_fixes.install(settings)
    app = faust_app(
        settings, app_id(settings), store=settings.streams.store, datadir=str(settings.data_dir / "streams"),
        table_standby_replicas=settings.streams.standby_replicas, consumer_auto_offset_reset="earliest",
        web_enabled=settings.streams.web_port > 0, web_port=settings.streams.web_port or 6066,
        key_serializer="raw", value_serializer="raw", producer_linger_ms=PRODUCER_LINGER_MS,
        producer_max_batch_size=PRODUCER_BATCH_BYTES, logging_config=None,
        producer_compression_type=PRODUCER_COMPRESSION)
    app.producer.buffer.max_messages = CHANGELOG_BUFFER_MESSAGES
    stages = Stages(app, settings, journey_map or load_journey_map(settings.journey_map))
    stages.refusals = refusals if refusals is not None else []
    tune_gc()
    if exit_when_idle_s > 0:
        app.timer(IDLE_CHECK_S)(stages.exit_when_idle(exit_when_idle_s))
    return stages


class Stages:
    """The three agents and their tables; thin: decode, call the core, send."""

    def __init__(self, app: faust.App, settings: Settings, journey_map: JourneyMap) -> None:
        self.app, self.settings, self.map = app, settings, journey_map
        self.partitions = settings.kafka.partitions
        self.health = HealthCounter(reporter=f"{socket.gethostname()}:{os.getpid()}")
        self.erased = erasure.attach(app, settings)  # the erasure list, followed while the worker runs
        self.checker = Checker(journey_map, settings.streams.check_processes, settings.received_skew_s)
        self.last_work_s = 0.0
        self.refusals: list[LogReset] = []
        self.reading_since_s = 0.0  # when stage 1 first polled its partitions: idle time counts from there
        self.raw_read_to_end = False  # stage 1 has read its raw partitions to their ends (as of its last poll)
        # Not idle while a stage is in the middle of a message (one may take longer than the idle time on
        # a loaded machine) or while a work topic partition is known to hold messages not yet read.
        # (Not the raw topics: a transactional producer's commit marker would keep their lag at 1.)
        self.working: set[str] = set()
        self.backlog: dict[Any, int] = {}
        self.also_busy: list[Callable[[], float]] = []  # when other agents of the app last worked (the sink)
        self.sink_written: Callable[[], int] | None = None  # records the embedded sink has written so far
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
        app.task(intake(app, settings, f"{app_id(settings)}-intake", self.validate, self.raw_lag, self.reading))
        # A failing agent would be restarted by Faust in this process, over tables and pending writes
        # its failure left half done: the worker stops instead (restarted, it recovers from the changelogs).
        app.agent(self.identity_work, name="resolve")(self.stopping_on_failure("resolve", self.resolve))
        app.agent(self.customer_work, name="stitch")(self.stopping_on_failure("stitch", self.stitch))
        app.timer(HEALTH_INTERVAL_S)(self.flush_health)

    def watch(self, last_work_s: Callable[[], float], records_written: Callable[[], int]) -> None:
        """Another agent of the app (the embedded sink): busy when it works, and the last health
        samples wait until it has written them."""
        self.also_busy.append(last_work_s)
        self.sink_written = records_written

    def _table(self, name: str, partitions: int) -> Any:
        return self.app.Table(name, default=None, partitions=partitions, key_type=str)

    def stopping_on_failure(self, stage: str, body: Callable[[Any], Coroutine[Any, Any, None]]
                            ) -> Callable[[Any], Coroutine[Any, Any, None]]:
        """The stage's agent function; a failure stops the worker (see consume_in for the other tasks)."""
        async def agent(stream: Any) -> None:
            try:
                await body(stream)
            except LogReset as error:  # expected, not a bug: one clear line, a clean stop, the caller exits non-zero
                log.error("stage %s refuses to go on, the worker stops: %s", stage, error)
                self.refusals.append(error)
                os.kill(os.getpid(), signal.SIGTERM)
            except Exception as error:
                log.error("stage %s failed, the worker stops: %r", stage, error)
                await self.app.crash(error)
                raise
        agent.__doc__ = body.__doc__
        return agent

    def raw_lag(self, name: str, behind: int) -> None:
        self.health.lag(time.time(), channel_of(name), behind)

    def end_of(self, message: Any) -> int | None:
        """The end of the message's partition as its consumer's last fetch saw it (None if unknown)."""
        high = self.app.consumer.highwater(message.tp)
        return None if high is None else int(high)

    def work_lag(self, channel: str, message: Any) -> None:
        """How far this stage is behind on its work topic partition (high watermark of the last fetch)."""
        high = self.app.consumer.highwater(message.tp)
        if high is not None:
            self.backlog[message.tp] = max(high - message.offset - 1, 0)
            self.health.lag(time.time(), channel, high - message.offset - 1)

    def begin(self, stage: str) -> None:
        """A stage takes a message (stage 1: a batch): the worker is busy until the stage is `done`."""
        self.working.add(stage)
        self.last_work_s = time.monotonic()

    def done(self, stage: str) -> None:
        self.working.discard(stage)
        self.last_work_s = time.monotonic()

    async def validate(self, messages: list[Any]) -> None:
        """Stage 1: raw messages -> compact records for the identity stage; bad ones dead-lettered.

        Returns once all it produced is delivered, so streams.intake may commit the raw offsets.
        """
        self.begin("validate")
        checked = await self.checker.check(raw_payloads(messages), self.erased.snapshot())
        now_s, dead = time.time(), Counter(messages[position].topic for position, _ in checked.rejected)
        for name, count in Counter(message.topic for message in messages).items():
            self.health.count(now_s, channel_of(name), False, count - dead[name])
            self.health.count(now_s, channel_of(name), True, dead[name])
        for position, rejection in checked.rejected:
            await self.dead_letter(dead_letter_of(rejection, channel_of(messages[position].topic)))
        self.last_work_s = time.monotonic()
        for value in checked.work:
            await self.send(topic(self.settings, IDENTITY_WORK_TOPIC), BATCH_KEY, value, 0)
        await self.delivered()
        self.done("validate")

    async def dead_letter(self, letter: DeadLetter) -> None:
        """Send a dead letter. The contract keeps it under a Kafka message's default limit; if the
        producer still refuses it (a lower limit configured), it goes without its payload: one bad
        message must not stop the worker at the same offset after every restart."""
        try:
            await self.publish(letter)
        except (ProducerSendError, KafkaError) as error:  # Faust wraps aiokafka's refusal
            log.warning("dead letter of %s refused by the producer (%r): sent without its payload", letter.source, error)
            await self.publish(without_payload(letter, error))

    async def resolve(self, stream: Any) -> None:
        """Stage 2: resolve identity in order; route commands to the customers' partitions."""
        graph = self.graph_table  # also holds this stage's mark (foundation.marks)
        async for event in stream.events():
            self.begin("resolve")
            message = event.message
            for offset, _, value in await unapplied(graph, self.settings, message, self.end_of(message)):
                commands, links = resolve(self.graph, unpack(value))
                links_topic = self.names[IDENTITY_TOPIC]
                await self.batch.add_many((links_topic, link.customer_id.encode(), link.model_dump_json().encode())
                                          for link in links)
                await self.route(commands)
                await self.delivered()  # commands (merges above all) are durable before the graph that made them
                graph[mark_key(message.partition)] = offset + 1
                await graph.flush(self.batch, message.partition, whole=True)  # all of it, or none after a crash
                await self.batch.flush()  # confirmed with the next message's work, or by Faust before a commit
            self.work_lag(IDENTITY_LAG_CHANNEL, message)
            self.done("resolve")

    async def stitch(self, stream: Any) -> None:
        """Stage 3: fold each customer's commands into its state; send what changed."""
        async for event in stream.events():
            self.begin("stitch")
            message = event.message
            for offset, _, value in await unapplied(self.states, self.settings, message, self.end_of(message)):
                states = CustomerStates(self.states.get, self.memory)
                work = Stitching(self.map, states.load)
                outputs, forwards = work.handle_batch(commands_of(value))
                names = self.names
                await self.batch.add_many((names[document.topic], document.key.encode(), encode_document(document))
                                          for document in outputs)
                await self.route(forwards)
                await self.delivered()  # outputs and forwarded events are durable before the states that sent them
                self.states.update(states.stored(work.changed()))
                await self.states.flush(self.batch, message.partition)
                # The states may take several record batches: they are durable before the mark that
                # says they were written, or a batch lost for good could leave the mark without them.
                await self.delivered()
                self.states[mark_key(message.partition)] = str(offset + 1).encode()
                await self.states.flush(self.batch, message.partition)
                await self.batch.flush()  # confirmed with the next message's work, or by Faust before a commit
            self.work_lag(CUSTOMER_LAG_CHANNEL, message)
            self.done("stitch")

    def reading(self, at_end: bool) -> None:
        self.reading_since_s = self.reading_since_s or time.monotonic()
        self.raw_read_to_end = at_end

    def exit_when_idle(self, idle_s: float) -> Callable[[], Coroutine[Any, Any, None]]:
        """A timer that stops the worker (as SIGTERM would) once stage 1 reads and no stage (nor the
        sink) had work for idle_s: a worker started with nothing to read stops too. Its last health
        samples are published first and, with the embedded sink, written to the warehouse. A stage in the
        middle of a message is work, and so is a work partition known to hold unread messages: on a loaded
        machine one message can take longer than idle_s (the worker once exited as if it had finished)."""
        async def check() -> None:
            if self.working or self.unread():  # a message in progress, or known unread work, is work
                return
            last = max([self.reading_since_s, self.last_work_s, *(clock() for clock in self.also_busy)])
            if self.reading_since_s and time.monotonic() - last > idle_s and await self.caught_up():
                await self.publish_last_health()
                os.kill(os.getpid(), signal.SIGTERM)
        return check

    async def caught_up(self) -> bool:
        """Every stage has applied its input to the end. On a loaded machine stages 2 and 3 joined
        after stage 1 had gone quiet (or stage 1's first fetch came late), and an idle exit left work
        unapplied."""
        if not self.raw_read_to_end:
            return False
        names = (self.identity_work.get_topic_name(), self.customer_work.get_topic_name())
        held = [tp for tp in self.app.consumer.assignment() if tp.topic in names]
        if not held:
            return False  # not joined yet
        ends = await asyncio.get_running_loop().run_in_executor(None, fetch_highwaters, self.settings, held)
        marks = {names[0]: self.graph_table, names[1]: self.states}
        return all((end := ends[tp]) is not None and (expected_offset(marks[tp.topic], tp.partition) or 0) >= end
                   for tp in held)

    async def publish_last_health(self) -> None:
        """Every sample still counted, acknowledged and, with the embedded sink, written to the warehouse
        (the worker is idle, so the sink's next records are these), waiting FINAL_HEALTH_WAIT_S at most."""
        samples = self.health.closed(time.time(), everything=True)
        target = self.sink_written() + len(samples) if self.sink_written is not None else 0
        for sample in samples:
            await self.publish(sample)
        await self.delivered()
        if not samples or self.sink_written is None:
            return
        if not await written_by_sink(self.sink_written, target, FINAL_HEALTH_WAIT_S):
            log.warning("the sink did not write the last health samples within %.0f s; they stay on %s",
                        FINAL_HEALTH_WAIT_S, topic(self.settings, HEALTH_TOPIC))

    def unread(self) -> int:
        """Messages known to wait on the work topic partitions this worker has (a rebalance may have
        moved others to another worker: what this one last saw of them is no longer its work)."""
        if not self.backlog:
            return 0
        assigned = self.app.consumer.assignment()
        return sum(behind for tp, behind in self.backlog.items() if tp in assigned)

    async def delivered(self) -> None:
        """Send what is queued and wait for the broker's acknowledgement of every record.

        A crash can come between any two sends. Work for the next stage is therefore acknowledged
        before the state change that produced it is written: after a crash the state is older, the
        input is replayed, and the same work is produced again (duplicates are harmless downstream).
        The other order could lose a merge or an absorbed customer's events. The state's own
        changelog is confirmed here too, with the next message's work: if it was not durable when
        Faust committed the input, the stage's mark (foundation.marks) is behind after a restart and
        the message is read back. A failed delivery (a producer's flush does not report it) raises
        here and so stops the worker (`stopping_on_failure`, and consume_in for stage 1): its tables
        would otherwise run ahead of their changelogs.
        """
        await self.batch.confirm()

    async def route(self, commands: list[Command]) -> None:
        """Commands to their customers' partitions, cut to fit the broker's message size (streams.work)."""
        name = topic(self.settings, CUSTOMER_WORK_TOPIC)
        for partition, some in by_partition(commands, self.partitions).items():
            for value in command_messages(some):
                await self.send(name, BATCH_KEY, value, partition)

    async def flush_health(self) -> None:
        for sample in self.health.closed(time.time()):
            await self.publish(sample)

    async def publish(self, record: BaseModel) -> None:
        name, key = topic_and_key(record)
        # serialize_as_any: a step's event is written whole, with its channel's measures
        await self.send(topic(self.settings, name), key.encode(), record.model_dump_json(serialize_as_any=True).encode(),
                        None)

    async def send(self, name: str, key: bytes, value: bytes, partition: int | None) -> None:
        self.batch.track(await self.app.producer.send(name, key, value, partition, None, None))


def channel_of(raw_topic: str) -> str:
    """The channel of a raw topic (`<prefix>touchpoints.<channel>`)."""
    return raw_topic.rsplit(".", 1)[-1]


def without_payload(letter: DeadLetter, error: BaseException) -> DeadLetter:
    """A dead letter the producer refused, reduced to what always fits: size and SHA-256 stay."""
    reason = f"{letter.reason} (payload not kept: the producer refused the dead letter: {error!r})"
    return letter.model_copy(update={"payload": "", "payload_tail": "", "payload_truncated": True,
                                     "problems": letter.problems[:1], "reason": clip(reason, MAX_REASON_CHARS)})
