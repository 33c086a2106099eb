"""Erasure, Kafka side: tombstones (null values) for an erased customer's keys on every compacted topic.

A compacted topic keeps the newest value of each key for ever, so erasing there means writing a
null value under each of the customer's keys: compaction then drops the key and its older values,
and a reader that rebuilds from the topic (the worker's table recovery, a compacted read) deletes
the key. Which keys, where:
- journeys.state: the customer's journey ids; journeys.friction: their friction ids (same
  partitioner as the worker, which keys these by id);
- identity.links: their customer ids;
- the worker's table changelogs (`<app id>-customer-state-changelog`: customer ids;
  `<app id>-identity-graph-changelog`: `o:`/`d:`/`v:` + identifier key, `m:` + customer id). A table
  writes its changelog on its source partition, not by key, so these go to every partition, and
  its keys travel as Faust's table key serializer writes them (JSON strings).
Entry layer: it knows the worker's table names, and wires them with the warehouse's findings.
"""

from __future__ import annotations

from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer

from clickhouse.erasure import Subject
from foundation.kafka import common_options, producer_options, topic
from foundation.settings import Settings
from schemas.errors import DeliveryError
from schemas.outputs import FRICTION_TOPIC, IDENTITY_TOPIC, STATE_TOPIC
from streams.core.identity import CLOCK_KEY
from streams.stages import GRAPH_PREFIXES
from streams.topology import GRAPH_TABLE, STATE_TABLE, app_id

ACK_TIMEOUT_S = 30.0
# The graph's entries keyed by identifier (its owner, the devices it signed in on, its evidence in
# event time): every prefix but the members', which are keyed by customer.
IDENTIFIER_PREFIXES = tuple(prefix for prefix in GRAPH_PREFIXES if prefix != "m:")


def changelog(settings: Settings, table: str) -> str:
    """The Faust changelog topic of one of the worker's tables."""
    return f"{app_id(settings)}-{table}-changelog"


def tombstone_keys(settings: Settings, subject: Subject) -> dict[str, tuple[set[bytes], bool]]:
    """Topic -> (keys to tombstone, as on the wire; whether on every partition)."""
    # The evidence clock holds the newest edge's identifiers, maybe the customer's: it goes too (the
    # worker then takes the next edge as the newest, which only skips a re-fold it had no reason for).
    graph = ({f"{prefix}{key}" for key in subject.identifiers for prefix in IDENTIFIER_PREFIXES}
             | {f"m:{customer}" for customer in subject.customers} | {f"v:{CLOCK_KEY}"})
    return {
        topic(settings, STATE_TOPIC): (_raw(subject.journeys), False),
        topic(settings, FRICTION_TOPIC): (_raw(subject.frictions), False),
        topic(settings, IDENTITY_TOPIC): (_raw(subject.customers), False),
        changelog(settings, STATE_TABLE): (_json(subject.customers), True),
        changelog(settings, GRAPH_TABLE): (_json(graph), True),
    }


def _raw(keys: set[str]) -> set[bytes]:
    return {key.encode() for key in keys}


def _json(keys: set[str]) -> set[bytes]:
    return {orjson.dumps(key) for key in keys}


def publish_tombstones(settings: Settings, subject: Subject) -> int:
    """Send every tombstone and wait for Kafka's acknowledgement; returns how many were sent.
    A topic that does not exist (no worker ever ran under this app id) has nothing to erase."""
    lookup = KafkaConsumer(**common_options(settings), group_id=None)
    producer = KafkaProducer(**producer_options(settings))
    sent: list[tuple[str, Any]] = []
    try:
        for name, (keys, everywhere) in tombstone_keys(settings, subject).items():
            partitions = sorted(lookup.partitions_for_topic(name) or ())
            for key in sorted(keys) if partitions else ():
                targets: list[int | None] = list(partitions) if everywhere else [None]
                sent += [(name, producer.send(name, key=key, value=None, partition=p)) for p in targets]
        for name, future in sent:
            _acknowledged(name, future)
    finally:
        producer.close()
        lookup.close()
    return len(sent)


def _acknowledged(name: str, future: Any) -> None:
    try:
        future.get(timeout=ACK_TIMEOUT_S)
    except Exception as err:
        raise DeliveryError(name, None, str(err) or type(err).__name__) from err
