"""Kafka plumbing every stage shares: topic names, topic creation and client options.

One place decides how clients reach the broker (security settings pass through to every client),
how fast consumer groups join, and which topics exist with which cleanup policy. The same code
runs against the local broker and Apache Kafka; only settings differ.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka.errors import CommitFailedError
from aiokafka.helpers import create_ssl_context
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from foundation.batches import partitioner
from foundation.settings import KafkaSettings, Settings
from schemas.erasure import ERASURE_TOPIC
from schemas.errors import BrokerError
from schemas.journeymap import map_channel_names
from schemas.outputs import OUTPUTS, raw_topic

log = logging.getLogger(__name__)

PRODUCER_LINGER_MS = 5
PRODUCER_BATCH_BYTES = 256 * 1024
ADMIN_TIMEOUT_MS = 15_000
FETCH_MAX_WAIT_MS = 500  # aiokafka consumers on Apache Kafka (the local broker: LOCAL_FETCH_MAX_WAIT_MS)
# The local broker answers a fetch only when its wait ends if no data was there when it came, so a
# long wait would stall every hop between the pipeline's stages. A short one costs CPU while
# idle: an idle worker's polls took 17 % of a core in the broker and 10 % in the worker at 20 ms,
# 9 % and 5 % at 50 ms, for at most 30 ms more per hop.
LOCAL_FETCH_MAX_WAIT_MS = 50
SSL_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


def topic(settings: Settings, name: str) -> str:
    """The real topic name: the configured prefix (used to isolate tests and tenants) + name."""
    return settings.kafka.topic_prefix + name


def raw_topics(settings: Settings) -> list[str]:
    """The raw per-channel topics, `touchpoints.<channel>`, for every channel of the settings' journey map
    (and plugins). Read from the map, not the registry: topics are created before anything else loads it."""
    return [topic(settings, raw_topic(name)) for name in map_channel_names(settings.journey_map)]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic the pipeline uses, with partitions and cleanup policy."""
    n = settings.kafka.partitions
    specs = [TopicSpec(name, n) for name in raw_topics(settings)]
    specs += [TopicSpec(topic(settings, kind.topic), 1 if kind.single_partition else n, kind.compacted)
              for kind in OUTPUTS.values()]  # the output registry (schemas.outputs)
    specs.append(TopicSpec(topic(settings, ERASURE_TOPIC), 1, compacted=True))  # the erasure list (foundation.erasure_list)
    return specs


def common_options(settings: Settings) -> dict[str, Any]:
    """Bootstrap and security options, passed to every kafka-python client."""
    if not settings.kafka.bootstrap_servers:
        raise BrokerError("no Kafka configured: set JOURNEYS_KAFKA__BOOTSTRAP_SERVERS or start "
                          "the local broker (`journeys broker`)")
    return {"bootstrap_servers": settings.kafka.bootstrap_servers.split(","),
            **settings.kafka.client_options()}


def producer_options(settings: Settings) -> dict[str, Any]:
    """kafka-python producer: every replica acknowledges, batched and compressed, keys partitioned
    by the project's one murmur2 (foundation.batches)."""
    return {**common_options(settings), "acks": "all", "linger_ms": PRODUCER_LINGER_MS,
            "batch_size": PRODUCER_BATCH_BYTES, "compression_type": "lz4", "retries": 5,
            "partitioner": partitioner}


def consumer_options(settings: Settings, group_id: str | None) -> dict[str, Any]:
    """kafka-python consumer; short session timeouts make group joins take ~1 s, not ~23 s."""
    return {**common_options(settings), "group_id": group_id, "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": settings.kafka.session_timeout_ms,
            "heartbeat_interval_ms": settings.kafka.heartbeat_interval_ms}


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """The shared client options, respelled for aiokafka (TLS files become an SSL context)."""
    options = common_options(settings)
    files = {name: options.pop(name, None) for name in SSL_FILES}
    if any(files.values()) or settings.kafka.security_protocol.endswith("SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=files["ssl_cafile"], certfile=files["ssl_certfile"], keyfile=files["ssl_keyfile"])
    return options


def aiokafka_consumer_options(settings: Settings, group_id: str | None, max_records: int) -> dict[str, Any]:
    """aiokafka consumer (the worker's raw intake, the tombstone follower, the sink): the security
    settings, short session timeouts, manual commits, whole fetches of up to `max_records`."""
    kafka = settings.kafka
    return {**aiokafka_options(settings), "group_id": group_id, "enable_auto_commit": False,
            "auto_offset_reset": "earliest", "session_timeout_ms": kafka.session_timeout_ms,
            "heartbeat_interval_ms": kafka.heartbeat_interval_ms, "max_poll_records": max_records,
            "fetch_max_wait_ms": LOCAL_FETCH_MAX_WAIT_MS if kafka.local_broker else FETCH_MAX_WAIT_MS}


CRASH_EXIT_S = 20.0  # an orderly stop takes seconds; after a failure, longer means it will not come
CRASHED_EXIT_CODE = 1


async def crash(app: Any, error: BaseException, exit_after_s: float = CRASH_EXIT_S) -> None:
    """Stop the Faust app with `error`, and make sure the process ends.

    Faust's crash marks every service crashed, its consumer thread too; the stop that follows
    commits offsets through that thread and, when the thread had already ended, waited for it
    for ever (seen: the process alive an hour later, no socket open). After a failure the worker
    is designed to restart from its changelogs, as after a kill: if the orderly stop has not ended
    the process within `exit_after_s`, it ends it (exit code 1)."""
    timer = threading.Timer(exit_after_s, _exit_after_crash, (error, exit_after_s))
    timer.daemon = True
    timer.start()
    await app.crash(error)


def _exit_after_crash(error: BaseException, waited_s: float) -> None:
    log.error("the worker did not stop within %g s of the failure (%r): it exits now; restarted, it "
              "recovers from its changelogs", waited_s, error)
    logging.shutdown()
    os._exit(CRASHED_EXIT_CODE)


async def consume_in(app: Any, consumer: Any, body: Callable[[Any], Awaitable[None]]) -> None:
    """Start an aiokafka consumer and run `body(consumer)` on it until the app stops (cancelled).

    A failure is handed to the app, which stops with it, instead of leaving a task that reads its
    topics (raw intake, tombstones, the sink) silently stopped; the consumer is stopped either way.
    """
    try:
        await consumer.start()
        await body(consumer)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        await crash(app, error)
    finally:
        await consumer.stop()


async def gathered(consumer: Any, max_records: int, within_s: float, poll_ms: int) -> list[Any]:
    """Up to `max_records` messages from an aiokafka consumer: what is there, and what comes within
    `within_s` after the first one (waits up to `poll_ms` for a first one; [] if none came).

    Under load a batch fills at once; at a trickle it still holds `within_s` worth of messages, so
    the per-batch costs downstream (a work message, a write, a commit) are not paid per fetch."""
    messages: list[Any] = []
    deadline = None
    while len(messages) < max_records:
        wait_ms = poll_ms if deadline is None else int(max(0.0, deadline - time.monotonic()) * 1000)
        fetched = await consumer.getmany(timeout_ms=wait_ms, max_records=max_records - len(messages))
        messages += [m for part in fetched.values() for m in part]
        if deadline is None and messages:
            deadline = time.monotonic() + within_s
        if deadline is None or time.monotonic() >= deadline:
            break
    return messages


async def commit_handled(consumer: Any) -> bool:
    """Commit what an aiokafka consumer handed out. When a rebalance took partitions away meanwhile,
    the commit fails: their records are read again by their new owner (a replay, which every
    stage tolerates), so that is a warning, not an error."""
    try:
        await consumer.commit()
        return True
    except CommitFailedError as error:
        log.warning("offsets not committed (the group rebalanced; the new owner reads them again): %s", error)
        return False


def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create missing topics (idempotent). Returns the names created."""
    specs = specs if specs is not None else topic_specs(settings)
    admin = KafkaAdminClient(**common_options(settings), request_timeout_ms=ADMIN_TIMEOUT_MS,
                             client_id="journeys-admin")
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            admin.create_topics([_new_topic(NewTopic, s, settings) for s in missing])
        return [s.name for s in missing]
    except Exception as err:
        raise BrokerError(f"could not create topics on {settings.kafka.bootstrap_servers}: {err}") from err
    finally:
        admin.close()


def _new_topic(new_topic: Any, spec: TopicSpec, settings: Settings) -> Any:
    configs = {"cleanup.policy": "compact"} if spec.compacted else {}
    return new_topic(name=spec.name, num_partitions=spec.partitions,
                     replication_factor=settings.kafka.replication_factor, topic_configs=configs)


def faust_credentials(kafka: KafkaSettings) -> Any:
    """The Kafka security settings, spelled for Faust apps (worker and sink); None for PLAINTEXT."""
    context = None
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
        if kafka.ssl_certfile:
            context.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None)
    if kafka.security_protocol.startswith("SASL"):
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        return faust.SASLCredentials(username=kafka.sasl_username, password=password, ssl_context=context,
                                     mechanism=kafka.sasl_mechanism or "PLAIN")
    return faust.SSLCredentials(context) if context is not None else None
