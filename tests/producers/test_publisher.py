"""The producer library against the real local broker: what is published is what is read back."""

from __future__ import annotations

import json

import pytest

from foundation.kafka import ensure_topics, topic
from foundation.localbroker import LocalBroker, stop_broker
from foundation.settings import KafkaSettings, Settings
from producers.publisher import Publisher, identifiers_from_raw
from schemas.channels import event_adapter
from schemas.errors import DeliveryError
from schemas.outputs import DEADLETTER_TOPIC, DeadLetter, raw_topic
from schemas.pii import PiiError, hash_email
from schemas.validation import Rejection
from tests.producers.conftest import sample_events
from tests.producers.readback import read_topic


def test_each_channel_reads_back_equal_keyed_by_primary_identifier(topics: Settings) -> None:
    events = sample_events(topics)
    with Publisher.connect(topics, source="test") as pub:
        for event in events:
            pub.publish(event)
    for event in events:
        records = read_topic(topics, topic(topics, raw_topic(event.channel)), 1)
        assert [event_adapter().validate_json(r.value) for r in records] == [event]
        assert records[0].key == event.identifiers.primary().encode()
    with Publisher.connect(topics) as pub:
        assert pub.counts.snapshot()["published_total"] == 0


def test_a_malformed_payload_is_dead_lettered_with_its_reason(topics: Settings) -> None:
    bad = {"channel": "call_centre", "touchpoint": "call_centre.support", "event_type": "call_answered",
           "event_time": "2026-03-02T09:30:00+00:00", "identifiers": {"phone_hash": "not-a-hash"},
           "measures": {"wait_s": -5}}
    with Publisher.connect(topics, source="cdr-feed") as pub:
        result = pub.publish_payload(bad)
        pub.publish_payload(b"\xff\xfe{", source="upload")
    assert isinstance(result, Rejection)
    assert pub.counts.rejected == {"call_centre": 1, "unknown": 1}
    records = read_topic(topics, topic(topics, DEADLETTER_TOPIC), 2)
    letters = {r.key: DeadLetter.model_validate_json(r.value) for r in records}
    assert set(letters) == {b"cdr-feed", b"upload"}
    assert "identifiers.phone_hash" in letters[b"cdr-feed"].reason
    assert "measures.wait_s" in letters[b"cdr-feed"].reason
    assert json.loads(letters[b"cdr-feed"].payload) == bad
    assert letters[b"cdr-feed"].channel == "call_centre"
    assert letters[b"upload"].payload_encoding == "base64"
    assert "not UTF-8" in letters[b"upload"].reason


def test_payloads_in_bulk_are_published_or_dead_lettered_like_single_ones(topics: Settings) -> None:
    good = sample_events(topics)[0]
    with Publisher.connect(topics, source="cdr-feed") as pub:
        results = pub.publish_payloads([b"{", good.model_dump_json().encode(), b"\xff\xfe{"], source="upload")
    assert [type(r) for r in results] == [Rejection, type(good), Rejection]
    assert pub.counts.rejected == {"unknown": 2} and pub.counts.published == {"web": 1}
    assert [event_adapter().validate_json(r.value) for r in read_topic(topics, topic(topics, raw_topic("web")), 1)] == [good]
    letters = [DeadLetter.model_validate_json(r.value) for r in read_topic(topics, topic(topics, DEADLETTER_TOPIC), 2)]
    assert sorted(letter.payload_encoding for letter in letters) == ["base64", "utf-8"]
    assert {letter.source for letter in letters} == {"upload"}


def test_a_bulk_only_publisher_still_sends_single_events_when_asked(topics: Settings) -> None:
    """kafka-python's producer is connected on the first single send, not at connect."""
    event = sample_events(topics)[1]
    with Publisher.connect(topics, source="sim", bulk_only=True) as pub:
        assert pub._producer is None
        pub.publish(event).get(timeout=30)
    records = read_topic(topics, topic(topics, raw_topic(event.channel)), 1)
    assert [event_adapter().validate_json(r.value) for r in records] == [event]


def test_a_touchpoint_missing_from_the_journey_map_is_rejected(topics: Settings) -> None:
    event = sample_events(topics)[0].model_dump(mode="json") | {"touchpoint": "web.nowhere"}
    with Publisher.connect(topics) as pub:
        result = pub.publish_payload(event, source="site")
    assert isinstance(result, Rejection) and "journey map" in result.reason
    letter = DeadLetter.model_validate_json(read_topic(topics, topic(topics, DEADLETTER_TOPIC), 1)[0].value)
    assert letter.kind == "touchpoint" and letter.source == "site"


def test_publish_many_reads_back_every_event_in_the_default_partition(topics: Settings) -> None:
    base = sample_events(topics)[0]
    events = [base.model_copy(update={"event_id": f"e-{i}", "identifiers": base.identifiers.model_copy(
        update={"anonymous_id": f"c-{i % 37}"})}) for i in range(3000)]
    with Publisher.connect(topics) as pub:
        assert pub.publish_many(events[:1000]) + pub.publish_many(events[1000:]) == 3000
        pub.flush()
        singles = [pub.publish(e) for e in events[:37]]  # kafka-python's own partitioner
    records = read_topic(topics, topic(topics, raw_topic("web")), 3037)
    assert len(records) == 3037
    assert {r.value for r in records} == {e.model_dump_json().encode() for e in events}
    partition_of_key = {e.identifiers.primary().encode(): f.get().partition for e, f in zip(events[:37], singles, strict=True)}
    assert all(r.partition == partition_of_key[r.key] for r in records)
    by_key: dict[bytes, list[str]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        ids = by_key.setdefault(r.key, [])
        event_id = json.loads(r.value)["event_id"]
        if event_id not in ids:  # the 37 single sends repeat bulk events, after them
            ids.append(event_id)
    assert all(ids == sorted(ids, key=lambda i: int(i[2:])) for ids in by_key.values())


def test_raw_email_and_phone_are_hashed_at_the_edge(settings: Settings) -> None:
    ids = identifiers_from_raw(settings, email=" Ada@Example.COM", phone="+44 7700 900123", crm_id="C-1")
    secret = settings.pii_secret.get_secret_value().encode()
    assert ids.email_hash == hash_email("ada@example.com", secret)
    assert ids.crm_id == "C-1" and ids.phone_hash and "7700" not in ids.model_dump_json()
    with pytest.raises(PiiError):
        identifiers_from_raw(settings, email="not an address")


def test_an_oversized_message_is_a_delivery_error_naming_the_topic(topics: Settings) -> None:
    with Publisher.connect(topics) as pub, pytest.raises(DeliveryError) as caught:
        pub._send(topic(topics, raw_topic("web")), b"k", b"x" * 2_000_000)
    assert caught.value.topic == topic(topics, raw_topic("web"))


def test_flush_raises_when_the_broker_is_gone(fresh_broker: LocalBroker) -> None:
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=fresh_broker.bootstrap_servers))
    ensure_topics(settings)
    pub = Publisher.connect(settings)
    stop_broker(fresh_broker)
    pub.publish(sample_events(settings)[0])
    with pytest.raises(DeliveryError) as caught:
        pub.flush(timeout_s=1.0)
    assert "touchpoints.web" in caught.value.topic
    with pytest.raises(DeliveryError):
        pub.close(timeout_s=0.5)
    producer = pub._producer  # closed all the same: no I/O thread left retrying a broker that is gone
    assert producer is not None and producer._closed
    producer._sender.join(timeout=30.0)  # its poll may take a few seconds to return
    assert not producer._sender.is_alive()
