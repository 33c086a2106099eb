"""Producers stage, Kafka adapter: the one way every channel publishes touchpoint events.

A channel engineer needs three lines:

    with Publisher.connect(settings, source="my-app") as pub:
        pub.publish_payload({...}, source="my-app")

Events go to `touchpoints.<channel>` keyed by the customer's strongest identifier (one customer's
events stay ordered in one partition); invalid payloads go to `touchpoints.deadletter` with their
reason. kafka-python with acks=all, idempotence, lz4 and tuned batching; delivery failures are
recorded as they happen and raised by `flush` with topic and partition, never swallowed.
`publish_many` is the bulk path (compiled batch builder, see producers.fastpath); `publish_encoded`
the same for events a trusted producer (the simulator) has already encoded and key-hashed, and
`publish_payloads` validates many payloads and publishes or dead-letters them on that path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from operator import itemgetter
from typing import Any

from kafka import KafkaProducer

from foundation.kafka import producer_options, topic
from foundation.settings import Settings
from producers.core import (
    PublishCounts,
    channel_hint,
    event_key,
    event_value,
    hash_identifiers,
)
from producers.fastpath import SyncBatchSender
from schemas.deadletters import dead_letter_of
from schemas.errors import BrokerError, DeliveryError
from schemas.events import Identifiers, TouchpointEventBase
from schemas.journeymap import JourneyMap, load_journey_map
from schemas.outputs import DEADLETTER_TOPIC, raw_topic
from schemas.validation import Edge, Rejection, validate

FLUSH_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 10.0

Payload = bytes | str | dict[str, Any]


def identifiers_from_raw(settings: Settings, *, email: str | None = None, phone: str | None = None,
                         **others: str | None) -> Identifiers:
    """Identifiers from raw values; e-mail and phone are hashed with `settings.pii_secret`.

    Raises schemas.pii.PiiError (a ValueError) for a value that cannot be normalised.
    """
    return hash_identifiers(settings.pii_secret.get_secret_value().encode("utf-8"), email=email,
                            phone=phone, phone_region=settings.default_phone_region, **others)


class Publisher:
    """Validated, keyed, confirmed publishing of touchpoint events and dead letters."""

    def __init__(self, settings: Settings, producer: Any | None, journey_map: JourneyMap, source: str) -> None:
        self.settings, self.source, self.journey_map = settings, source, journey_map
        self.counts = PublishCounts()
        self._producer = producer
        self._failures: list[DeliveryError] = []
        self._lock = threading.Lock()
        self._topics_sent: set[str] = set()
        self._bulk: SyncBatchSender | None = None
        self._raw_names: dict[str, str] = {}  # channel -> its raw topic
        self._deadletter_topic = topic(settings, DEADLETTER_TOPIC)
        self.edge = Edge(max_skew_s=settings.received_skew_s)  # the skew a sender's clock may have

    @classmethod
    def connect(cls, settings: Settings, source: str = "producer", journey_map: JourneyMap | None = None,
                bulk_only: bool = False) -> Publisher:
        """Connect to the configured Kafka; use as a context manager (flushes and closes).

        `bulk_only`: for a publisher that sends everything through the bulk path (the simulator):
        that path connects now, kafka-python's producer (and its I/O thread) only if a single
        send ever needs it."""
        publisher = cls(settings, None, journey_map or load_journey_map(settings.journey_map), source)
        if bulk_only:
            publisher._bulk_sender()
        else:
            publisher._single()
        return publisher

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()

    def identifiers(self, *, email: str | None = None, phone: str | None = None,
                    **others: str | None) -> Identifiers:
        """Identifiers from raw values, e-mail and phone hashed with the configured secret."""
        return identifiers_from_raw(self.settings, email=email, phone=phone, **others)

    def publish(self, event: TouchpointEventBase) -> Any:
        """Send one valid event to its channel's topic. Returns the delivery future."""
        name = topic(self.settings, raw_topic(event.channel))
        future = self._send(name, event_key(event), event_value(event))
        self.counts.count_published(event.channel)
        return future

    def publish_payload(self, raw: Payload, source: str | None = None) -> TouchpointEventBase | Rejection:
        """Validate a raw payload; publish the event, or dead-letter the rejection. Returns it."""
        result = validate(raw, source or self.source, self.journey_map, self.edge)
        if isinstance(result, Rejection):
            self.dead_letter(result, channel_hint(raw))
        else:
            self.publish(result)
        return result

    def publish_payloads(self, raws: Iterable[Payload],
                         source: str | None = None) -> list[TouchpointEventBase | Rejection]:
        """`publish_payload` of many payloads on the bulk path: valid events published, the
        rejections dead-lettered, batched and confirmed by `flush`. Returns each one's result."""
        rows = raws if isinstance(raws, list) else list(raws)
        results = [validate(raw, source or self.source, self.journey_map, self.edge) for raw in rows]
        if events := [r for r in results if not isinstance(r, Rejection)]:
            self.publish_many(events)
        letters = [self._dead_letter_record(r, channel_hint(raw))
                   for raw, r in zip(rows, results, strict=True) if isinstance(r, Rejection)]
        if letters:
            self._bulk_sender().send_many(letters)
        return results

    def dead_letter(self, rejection: Rejection, channel: str | None = None) -> Any:
        """Keep bad input with its reason on the dead-letter topic (key = its source); however large
        the input, the dead letter fits in one message (schemas.deadletters)."""
        return self._send(*self._dead_letter_record(rejection, channel))

    def _dead_letter_record(self, rejection: Rejection, channel: str | None) -> tuple[str, bytes, bytes]:
        self.counts.count_rejected(rejection, channel)
        letter = dead_letter_of(rejection, channel)
        return self._deadletter_topic, letter.source.encode("utf-8"), letter.model_dump_json().encode("utf-8")

    def publish_many(self, events: Iterable[TouchpointEventBase]) -> int:
        """Bulk path for valid events (simulator, importers): batched per partition, confirmed
        by `flush`. Returns how many were submitted."""
        return self._bulk_sender().send_many(self._records(events))[0]

    def submit_many(self, events: Iterable[TouchpointEventBase]) -> Future[int] | None:
        """Like `publish_many`, returning the future of these events' acknowledgement (None when
        there were none): a server can answer once its own request is confirmed."""
        return self._bulk_sender().send_many(self._records(events))[1]

    def publish_encoded(self, records: Iterable[tuple[str, int, bytes, bytes]]) -> int:
        """Bulk path for events a trusted producer has encoded itself, as (channel, key hash, key,
        value) with `foundation.batches.key_hash(key)`: the simulator writes its events' contract
        JSON directly (its tests run every one through validation) and hashes keys in the processes
        that write them. Batched per partition, confirmed by `flush`. Returns how many."""
        rows = records if isinstance(records, list) else list(records)
        self.counts.published.update(map(itemgetter(0), rows))  # counted in C, not per call
        names = self._raw_names
        named = [(names[c] if c in names else self._raw_name(c), hashed, key, value) for c, hashed, key, value in rows]
        return self._bulk_sender().send_hashed(named)[0]

    def _raw_name(self, channel: str) -> str:
        self._raw_names[channel] = name = topic(self.settings, raw_topic(channel))
        return name

    def _bulk_sender(self) -> SyncBatchSender:
        if self._bulk is None:
            self._bulk = SyncBatchSender.start(self.settings)
        return self._bulk

    def _records(self, events: Iterable[TouchpointEventBase]) -> Iterator[tuple[str, bytes, bytes]]:
        names: dict[str, str] = {}
        for event in events:
            name = names.get(event.channel) or names.setdefault(
                event.channel, topic(self.settings, raw_topic(event.channel)))
            self.counts.count_published(event.channel)
            yield name, event_key(event), event_value(event)

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Wait for every send to be acknowledged; raise DeliveryError for the first failure."""
        try:
            if self._producer is not None:
                self._producer.flush(timeout=timeout_s)
        except Exception as err:  # kafka-python raises KafkaTimeoutError when records are left
            raise DeliveryError(",".join(sorted(self._topics_sent)), None,
                                f"not acknowledged within {timeout_s} s: {err}") from err
        if self._bulk is not None:
            self._bulk.flush(timeout_s)
        with self._lock:
            failures, self._failures = self._failures, []
        self._topics_sent.clear()
        if failures:
            raise failures[0]

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Stop both producers; records still unsent after `timeout_s` raise DeliveryError."""
        try:
            if self._bulk is not None:
                self._bulk.close()
        finally:
            try:
                if self._producer is not None:
                    self._producer.close(timeout=timeout_s)
            except Exception as err:  # kafka-python's close flushes, and times out like flush
                _abandon(self._producer)
                raise DeliveryError(",".join(sorted(self._topics_sent)), None,
                                    f"closed with records unsent: {err}") from err

    def _single(self) -> Any:
        """kafka-python's idempotent producer, for single sends (connected on first use)."""
        if self._producer is None:
            options = {**producer_options(self.settings), "enable_idempotence": True,
                       "client_id": f"journeys-{self.source}"[:200]}
            try:
                self._producer = KafkaProducer(**options)
            except Exception as err:
                raise BrokerError(f"cannot reach Kafka at {self.settings.kafka.bootstrap_servers}: {err}") from err
        return self._producer

    def _send(self, name: str, key: bytes, value: bytes) -> Any:
        try:
            future = self._single().send(name, key=key, value=value)
        except Exception as err:  # buffer full, message too large, closed producer
            raise DeliveryError(name, None, str(err) or type(err).__name__) from err
        self._topics_sent.add(name)
        future.add_errback(self._record_failure, name, future)
        return future

    def _record_failure(self, name: str, future: Any, err: Exception) -> None:
        where = getattr(getattr(future, "_produce_future", None), "topic_partition", None)
        partition = getattr(where, "partition", None)
        with self._lock:
            self._failures.append(DeliveryError(name, partition, str(err) or type(err).__name__))


ABANDON_TIMEOUT_S = 1.0


def _abandon(producer: Any) -> None:
    """Close a kafka-python producer whose records cannot be delivered (its close flushes first and
    times out again): fail them, so its I/O thread stops now rather than when it is collected."""
    try:
        producer._accumulator.abort_incomplete_batches()
        producer.close(timeout=ABANDON_TIMEOUT_S)
    except Exception:  # the caller raises the delivery error that matters
        pass
