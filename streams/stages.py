"""Streams stage, Faust adapter: the worker's three stages, thin: decode, call the core, send.

Stage 1 validates raw messages into compact records (bad ones become dead letters), stage 2
resolves identity and routes typed commands to the customers' partitions, stage 3 folds them into
the customers' states and sends what changed (streams.topology wires them in order). The raw
topics bypass Faust's per-message stream (streams.intake reads whole fetches); stages 2 and 3 send
their output records and table changelog writes in record batches (streams.batch_send,
streams.table_writes); decoded states and layouts stay in memory between batches
(streams.customer_states). Tables live in RocksDB (`store = "rocksdb://"`) or memory (tests),
recovered from their changelogs on start.

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
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError
from pydantic import BaseModel

from foundation.kafka import crash, topic
from foundation.marks import LogReset, mark_key, unapplied
from foundation.settings import Settings
from schemas.deadletters import MAX_REASON_CHARS, clip, dead_letter_of
from schemas.journeymap import JourneyMap
from schemas.outputs import FRICTION_TOPIC, IDENTITY_TOPIC, STATE_TOPIC, STEPS_TOPIC, DeadLetter, topic_and_key
from streams import erasure
from streams.batch_send import BatchSender
from streams.checking import Checker, raw_payloads
from streams.codecs import commands_of, encode_document, unpack
from streams.core.commands import Command, resolve
from streams.core.identity import IdentityGraph
from streams.core.stitching import Stitching
from streams.customer_states import CustomerStates, Memory
from streams.health import HealthCounter
from streams.liveness import Liveness
from streams.table_writes import BufferedTable, Prefixed
from streams.work import by_partition, command_messages

log = logging.getLogger(__name__)
GRAPH_PREFIXES = ("o:", "m:", "d:", "v:")  # owner, members, devices, evidence (streams.core.identity) in one table
# Health lag of the internal stages, reported beside the raw channels' own.
IDENTITY_LAG_CHANNEL = "stage:identity"
CUSTOMER_LAG_CHANNEL = "stage:customers"
BATCH_KEY = b"batch"


class WorkPlaces(NamedTuple):
    """Where the stages' work and state live (streams.topology makes them)."""

    identity_work: Any  # Faust topic: stage 1 -> stage 2
    customer_work: Any  # Faust topic: stage 2 (and forwards of stage 3) -> stage 3
    graph: BufferedTable  # stage 2's identity graph and marks
    states: BufferedTable  # stage 3's customer states and marks


class Stages:
    """The three stages' bodies and what they share: the producer's batches, the health counter."""

    def __init__(self, app: faust.App, settings: Settings, journey_map: JourneyMap, places: WorkPlaces) -> None:
        self.app, self.settings, self.map = app, settings, journey_map
        self.partitions = settings.kafka.partitions
        self.health = HealthCounter(reporter=f"{socket.gethostname()}:{os.getpid()}")
        self.liveness = Liveness(app, settings, self.health, self.publish, self.delivered)
        self.erased = erasure.attach(app, settings)  # the erasure list, followed while the worker runs
        self.checker = Checker(journey_map, settings.streams.check_processes, settings.received_skew_s)
        self.refusals: list[LogReset] = []
        self.memory: Memory = {}
        producer: Any = app.producer  # Faust's aiokafka transport: it runs the aiokafka producer
        self.batch = BatchSender(lambda: producer._ensure_producer())
        self.names = {name: topic(settings, name) for name in (STEPS_TOPIC, STATE_TOPIC, FRICTION_TOPIC, IDENTITY_TOPIC)}
        self.identity_work_name = places.identity_work.get_topic_name()
        self.customer_work_name = places.customer_work.get_topic_name()
        # the graph's mappings share one table: one message's changes go out as one record batch
        self.graph_table, self.states = places.graph, places.states
        self.graph = IdentityGraph(journey_map, *(Prefixed(self.graph_table, prefix) for prefix in GRAPH_PREFIXES))
        self.liveness.marks = {self.identity_work_name: self.graph_table, self.customer_work_name: self.states}

    def stopping_on_failure(self, stage: str, body: Callable[[Any], Coroutine[Any, Any, None]]
                            ) -> Callable[[Any], Coroutine[Any, Any, None]]:
        """The stage's agent function; a failure stops the worker (see consume_in for the other tasks).
        Faust would restart a failing agent in this process, over tables and pending writes its
        failure left half done: the worker stops instead (restarted, it recovers from the changelogs)."""
        async def agent(stream: Any) -> None:
            try:
                await body(stream)
            except LogReset as error:  # expected, not a bug: one clear line, a clean stop, the caller exits non-zero
                log.error("stage %s refuses to go on, the worker stops: %s", stage, error)
                self.refusals.append(error)
                os.kill(os.getpid(), signal.SIGTERM)
            except Exception as error:
                log.error("stage %s failed, the worker stops: %r", stage, error)
                await crash(self.app, error)
                raise
        agent.__doc__ = body.__doc__
        return agent

    def raw_lag(self, name: str, behind: int) -> None:
        self.health.lag(time.time(), channel_of(name), behind)

    def end_of(self, message: Any) -> int | None:
        """The end of the message's partition as its consumer's last fetch saw it (None if unknown)."""
        high = self.app.consumer.highwater(message.tp)
        return None if high is None else int(high)

    async def validate(self, messages: list[Any]) -> None:
        """Stage 1: raw messages -> compact records for the identity stage; bad ones dead-lettered.

        Returns once all it produced is delivered, so streams.intake may commit the raw offsets.
        """
        self.liveness.begin("validate")
        checked = await self.checker.check(raw_payloads(messages), self.erased.snapshot())
        now_s, dead = time.time(), Counter(messages[position].topic for position, _ in checked.rejected)
        for name, count in Counter(message.topic for message in messages).items():
            self.health.count(now_s, channel_of(name), False, count - dead[name])
            self.health.count(now_s, channel_of(name), True, dead[name])
        for position, rejection in checked.rejected:
            await self.dead_letter(dead_letter_of(rejection, channel_of(messages[position].topic)))
        self.liveness.last_work_s = time.monotonic()
        for value in checked.work:
            await self.send(self.identity_work_name, BATCH_KEY, value, 0)
        await self.delivered()
        self.liveness.done("validate")

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
            self.liveness.begin("resolve")
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
            self.liveness.work_lag(IDENTITY_LAG_CHANNEL, message)
            self.liveness.done("resolve")

    async def stitch(self, stream: Any) -> None:
        """Stage 3: fold each customer's commands into its state; send what changed."""
        async for event in stream.events():
            self.liveness.begin("stitch")
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
            self.liveness.work_lag(CUSTOMER_LAG_CHANNEL, message)
            self.liveness.done("stitch")

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
        name = self.customer_work_name
        for partition, some in by_partition(commands, self.partitions).items():
            for value in command_messages(some):
                await self.send(name, BATCH_KEY, value, partition)

    async def publish(self, record: BaseModel) -> None:
        name, key = topic_and_key(record)
        # serialize_as_any: a step's event is written whole, with its channel's measures
        await self.send(topic(self.settings, name), key.encode(), record.model_dump_json(serialize_as_any=True).encode(),
                        None)

    async def send(self, name: str, key: bytes, value: bytes, partition: int | None) -> None:
        self.batch.track(await self.app.producer.send(name, key, value, partition, None, None), name, partition)


def channel_of(raw_topic: str) -> str:
    """The channel of a raw topic (`<prefix>touchpoints.<channel>`)."""
    return raw_topic.rsplit(".", 1)[-1]


def without_payload(letter: DeadLetter, error: BaseException) -> DeadLetter:
    """A dead letter the producer refused, reduced to what always fits: size and SHA-256 stay."""
    reason = f"{letter.reason} (payload not kept: the producer refused the dead letter: {error!r})"
    return letter.model_copy(update={"payload": "", "payload_tail": "", "payload_truncated": True,
                                     "problems": letter.problems[:1], "reason": clip(reason, MAX_REASON_CHARS)})
