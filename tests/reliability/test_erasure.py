"""Erasure: `journeys forget` leaves nothing of a customer queryable, and they stay forgotten.

Ann is seen on the web (a device, then a login), in a store (loyalty card) and in a rejected
event; Bob only on the web. After `journeys forget email:ann@example.com` no table or view of the
warehouse holds any of Ann's identifiers, customer ids or event ids; Bob is untouched; a tombstone
is on identity.links and the audit row in identity_links names only tokens. A later event from
Ann's device is refused by the worker (a payload-less dead letter), so she is not re-linked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from journeys.erasure import identifier_key
from journeys.errors import ErasureError
from journeys.kafka import producer_options, topic
from journeys.settings import Settings
from producers.publisher import Publisher, identifiers_from_raw
from schemas.channels import StoreEvent, WebEvent
from schemas.events import TouchpointEventBase
from schemas.outputs import IDENTITY_TOPIC, raw_topic
from streams.core.identity import customer_id_for
from streams.erasure import ERASED_PREFIX, erased_token
from tests.producers.readback import read_topic
from tests.reliability import harness as h

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN_EMAIL = "Ann@Example.com"


def web(anonymous_id: str, event_type: str, minutes: int, **identifiers: str) -> WebEvent:
    touchpoint = "web.account" if event_type == "login" else "web.product"
    return WebEvent(event_time=T0 + timedelta(minutes=minutes), channel="web", touchpoint=touchpoint,
                    event_type=event_type, identifiers={"anonymous_id": anonymous_id, **identifiers},
                    measures={"path": "/" + event_type, "dwell_s": 30.0})


def people(settings: Settings) -> tuple[list[TouchpointEventBase], list[TouchpointEventBase], dict[str, str]]:
    ann = identifiers_from_raw(settings, email=ANN_EMAIL).email_hash or ""
    bob = identifiers_from_raw(settings, email="bob@example.com").email_hash or ""
    ann_events: list[TouchpointEventBase] = [
        web("dev-ann-1", "product_view", 0), web("dev-ann-1", "login", 5, email_hash=ann),
        StoreEvent(event_time=T0 + timedelta(days=2), channel="store", touchpoint="store.checkout",
                   event_type="purchase", identifiers={"loyalty_id": "L-ANN-7", "email_hash": ann},
                   measures={"store_id": "s-1", "purchase_amount": 80.0})]
    bob_events: list[TouchpointEventBase] = [web("dev-bob-1", "product_view", 1),
                                             web("dev-bob-1", "login", 6, email_hash="" + bob)]
    return ann_events, bob_events, {"email_hash": ann, "bob_email_hash": bob}


def publish(settings: Settings, events: list[TouchpointEventBase], raw: list[bytes] = ()) -> None:  # type: ignore[assignment]
    with Publisher.connect(settings, source="erasure-test") as publisher:
        for event in events:
            publisher.publish(event)
    producer = KafkaProducer(**producer_options(settings))
    for payload in raw:
        producer.send(topic(settings, raw_topic("web")), payload, key=b"bad")
    producer.close()


def needles_of(ann: list[TouchpointEventBase], ann_hash: str) -> set[str]:
    keys = {key for event in ann for key in event.identifiers.keys()}  # noqa: SIM118 (`kind:value` keys, a method)
    return ({key.split(":", 1)[1] for key in keys} | {customer_id_for(k) for k in keys}
            | {e.event_id for e in ann} | {ann_hash, ANN_EMAIL.lower()})


def test_forget_leaves_nothing_of_the_customer_and_keeps_them_forgotten(settings: Settings, tmp_path: Path) -> None:
    local = h.pipeline_settings(settings, tmp_path)
    h.prepare(local)
    ann, bob, ids = people(local)
    bad = orjson.dumps(ann[1].model_dump(mode="json") | {"feedback": {"csat": 7}, "event_type": "feedback"})
    publish(local, ann + bob, [bad])
    h.run_until_idle(local)
    before = "\n".join(row for rows in h.dump(local, "--all").values() for row in rows)
    needles = needles_of(ann, ids["email_hash"])
    assert ids["email_hash"] in before and ann[0].event_id in before and '"csat": 7' in before.replace('":7', '": 7')

    said = h.journeys(local, "forget", f"email:{ANN_EMAIL}").stdout.decode()
    assert "erased: " in said and "3 event(s)" in said

    later = web("dev-ann-1", "product_view", 60 * 24 * 3)
    publish(local, [later, web("dev-bob-1", "product_view", 60 * 24 * 3)])
    h.run_until_idle(local)
    tables = h.dump(local, "--all")
    text = "\n".join(row for rows in tables.values() for row in rows)
    found = {needle for needle in needles | {later.event_id} if needle in text}
    assert not found, f"still in the warehouse: {found}"
    assert ids["bob_email_hash"] in text and bob[0].event_id in text  # only Ann was erased
    audit = [row for row in tables["identity_links"] if "'forget'" in row]  # written by forget, and by the sink
    assert len({row.split(",")[0] for row in audit}) == 1 and erased_token(f"email_hash:{ids['email_hash']}") in audit[0]
    assert any("erased on request" in row for row in tables["dead_letters"])  # Ann's later event, refused
    tombstones = [orjson.loads(r.value) for r in read_topic(local, topic(local, IDENTITY_TOPIC), 1)
                  if orjson.loads(r.value)["kind"] == "forget"]
    assert len(tombstones) == 1 and all(t.startswith(ERASED_PREFIX) for t in tombstones[0]["identifiers"])
    assert len(tombstones[0]["identifiers"]) == 3  # the e-mail hash, the device and the loyalty card


def test_identifiers_are_read_hashed_or_refused(settings: Settings) -> None:
    key, customer = identifier_key("email: Ann@Example.com", settings)
    assert key == f"email_hash:{identifiers_from_raw(settings, email='ann@example.com').email_hash}" and customer is None
    assert identifier_key("crm_id:C-1", settings) == ("crm_id:C-1", None)
    assert identifier_key("customer_id:cust-0123", settings) == (None, "cust-0123")
    for bad in ("ann@example.com", "email:not-an-address", "shoe_size:44", "crm_id:"):
        with pytest.raises(ErasureError):
            identifier_key(bad, settings)
