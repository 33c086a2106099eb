"""A channel written in another stack: events published through librdkafka (confluent-kafka) are stitched.

Most non-Python backends (Java aside) reach Kafka through librdkafka: Go, Node, .NET, C/C++,
kcat. This test publishes the contract's JSON through confluent-kafka 2.16 (librdkafka 2.16) into
the local broker, the way such a backend would: its own JSON, its own keys, the login's e-mail hash
computed by OpenSSL from the documented recipe and the store's by this project's importer code.
The worker then runs as a process, and the journey steps, read back through librdkafka too, must
put the three events in one customer's journey; a malformed message becomes a dead letter.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from foundation.kafka import topic
from foundation.settings import Settings
from schemas.outputs import DEADLETTER_TOPIC, STATE_TOPIC, STEPS_TOPIC, raw_topic
from schemas.pii import EMAIL_PREFIX, hash_email, normalise_email
from streams.core.view import current
from tests.reliability.harness import prepare_topics
from tests.streams.test_worker_e2e import read_all, run_until_idle

PARTITIONS = 2
FLUSH_TIMEOUT_S = 30.0
POLL_S = 0.25
QUIET_POLLS = 8
READ_TIMEOUT_S = 60.0
ADDRESS = "Li.Wei@Example.ORG"


@pytest.fixture
def local(settings: Settings) -> Iterator[Settings]:
    local = settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"partitions": PARTITIONS, "local_broker": True})})
    prepare_topics(local)
    yield local


def openssl_email_hash(settings: Settings, raw: str) -> str:
    """The recipe of docs/channels.md done outside Python's hmac, as a Go or Node backend would."""
    message = EMAIL_PREFIX + normalise_email(raw)
    answer = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", settings.pii_secret.get_secret_value()],
                            input=message.encode("utf-8"), capture_output=True, check=True, timeout=30)
    return answer.stdout.decode().strip().rsplit("= ", 1)[1]


def events(settings: Settings) -> list[tuple[str, str, dict[str, Any]]]:
    """(channel, Kafka key, payload): browse, log in (hash by OpenSSL), buy in store (hash by our code)."""
    login_hash = openssl_email_hash(settings, ADDRESS)
    store_hash = hash_email(ADDRESS.lower(), settings.pii_secret.get_secret_value().encode("utf-8"))
    browse = {"channel": "web", "touchpoint": "web.product", "event_type": "product_view",
              "event_time": "2026-03-02T09:30:00+00:00", "source_id": "rd-1",
              "identifiers": {"anonymous_id": "c-rdkafka"}, "measures": {"path": "/products/kettle"}}
    login = {"channel": "web", "touchpoint": "web.account", "event_type": "login",
             "event_time": "2026-03-02T09:35:00+00:00", "source_id": "rd-2",
             "identifiers": {"anonymous_id": "c-rdkafka", "email_hash": login_hash}}
    purchase = {"channel": "store", "touchpoint": "store.checkout", "event_type": "purchase",
                "event_time": "2026-03-02T17:10:00+00:00", "source_id": "rd-3",
                "identifiers": {"loyalty_id": "L-rdkafka", "email_hash": store_hash},
                "measures": {"store_id": "leeds-01", "purchase_amount": 59.9}}
    return [("web", "anonymous_id:c-rdkafka", browse), ("web", f"email_hash:{login_hash}", login),
            ("store", "loyalty_id:L-rdkafka", purchase)]


def publish_with_librdkafka(settings: Settings, messages: list[tuple[str, str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "acks": "all",
                         "enable.idempotence": True, "compression.type": "lz4", "linger.ms": 5})
    failures: list[str] = []
    for channel, key, value in messages:
        producer.produce(topic(settings, raw_topic(channel)), value=value, key=key.encode(),
                         on_delivery=lambda err, _msg: failures.append(str(err)) if err else None)
    assert producer.flush(FLUSH_TIMEOUT_S) == 0, "librdkafka could not deliver everything in time"
    assert failures == []


def read_with_librdkafka(settings: Settings, name: str) -> list[dict[str, Any]]:
    """Every record of a topic from the beginning, through librdkafka, until it stays quiet."""
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": f"{name}-reader",
                         "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(name, timeout=10).topics[name]
        consumer.assign([TopicPartition(name, p, 0) for p in metadata.partitions])
        records: list[dict[str, Any]] = []
        quiet, deadline = 0, time.monotonic() + READ_TIMEOUT_S
        while quiet < QUIET_POLLS and time.monotonic() < deadline:
            message = consumer.poll(POLL_S)
            if message is None:
                quiet += 1
                continue
            assert not message.error(), message.error()
            value = message.value()
            assert value is not None, f"a record without a value at {message.topic()}/{message.partition()}"
            records.append(orjson.loads(value))
            quiet = 0
        return records
    finally:
        consumer.close()


def test_events_published_through_librdkafka_are_stitched_into_one_journey(local: Settings) -> None:
    sent = events(local)
    messages = [(channel, key, orjson.dumps(payload)) for channel, key, payload in sent]
    publish_with_librdkafka(local, [*messages, ("store", "loyalty_id:L-bad", b'{"channel": "store", oops')])
    run_until_idle(local)

    steps = sorted(current(read_with_librdkafka(local, topic(local, STEPS_TOPIC))).values(),
                   key=lambda s: s["event"]["event_time"])
    assert [s["event"]["source_id"] for s in steps] == ["rd-1", "rd-2", "rd-3"]
    assert len({s["customer_id"] for s in steps}) == 1, "the login and the store purchase split the customer"
    assert len({s["journey_id"] for s in steps}) == 1
    assert [s["phase"] for s in steps] == ["research", "research", "purchase"]
    [journey] = [j for j in current(read_all(local, topic(local, STATE_TOPIC))).values() if not j["retracted"]]
    assert journey["channels"] == ["web", "store"] and journey["converted"] and journey["events"] == 3
    [dead] = read_all(local, topic(local, DEADLETTER_TOPIC))
    assert dead["source"].startswith(f"topic:{topic(local, raw_topic('store'))}/")
