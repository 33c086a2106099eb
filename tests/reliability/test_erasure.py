"""Erasure: `journeys forget` leaves nothing of a customer, and nothing brings them back.

Ann is seen on the web (a device, then a login), in a store (loyalty card, phone) and in a
rejected event; Bob only on the web. After `journeys forget email:Ann@Example.com`:
- no table of the warehouse, no mutation record and no file under the data dir holds Ann's
  raw address, phone, hashes, device, loyalty card, customer ids or event ids;
- the erasure list holds keyed tokens for her; her keys on the compacted topics end in tombstones
  (journeys.state, the worker's changelogs, identity.links), so compacted topics name her nowhere;
- `journeys sink` started afresh (a new group: it reads every output topic from the start)
  writes none of her rows back, Bob's all;
- a later event from her device is refused by the worker (a payload-less dead letter).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from clickhouse.agents import SINK_APP_NAME
from clickhouse.sink import SINK_TOPICS
from foundation.erasure_list import secret_of
from foundation.kafka import producer_options, topic
from foundation.settings import Settings
from journeys.embedded import child_env
from journeys.erasure import identifier_key
from producers.publisher import Publisher, identifiers_from_raw
from schemas.channels import StoreEvent, WebEvent
from schemas.erasure import ERASED_PREFIX, ERASURE_TOPIC, erased_token
from schemas.errors import ErasureError
from schemas.events import TouchpointEventBase
from schemas.ids import customer_id_for
from schemas.outputs import IDENTITY_TOPIC, STATE_TOPIC, raw_topic
from schemas.pii import normalise_phone
from streams.topology import app_id
from tests.reliability import harness as h
from tests.reliability.traces import file_traces, topic_traces

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN_EMAIL = "Ann@Example.com"
ANN_PHONE = "07700 900123"
REPLAY_TIMEOUT_S = 120.0


def web(anonymous_id: str, event_type: str, minutes: int, **identifiers: str) -> WebEvent:
    touchpoint = "web.account" if event_type == "login" else "web.product"
    return WebEvent(event_time=T0 + timedelta(minutes=minutes), channel="web", touchpoint=touchpoint,
                    event_type=event_type, identifiers={"anonymous_id": anonymous_id, **identifiers},
                    measures={"path": "/" + event_type, "dwell_s": 30.0})


def people(settings: Settings) -> tuple[list[TouchpointEventBase], list[TouchpointEventBase], dict[str, str]]:
    ann = identifiers_from_raw(settings, email=ANN_EMAIL, phone=ANN_PHONE)
    bob = identifiers_from_raw(settings, email="bob@example.com").email_hash or ""
    email_hash, phone_hash = ann.email_hash or "", ann.phone_hash or ""
    ann_events: list[TouchpointEventBase] = [
        web("dev-ann-1", "product_view", 0), web("dev-ann-1", "login", 5, email_hash=email_hash),
        StoreEvent(event_time=T0 + timedelta(days=2), channel="store", touchpoint="store.checkout",
                   event_type="purchase", identifiers={"loyalty_id": "L-ANN-7", "email_hash": email_hash,
                                                       "phone_hash": phone_hash},
                   measures={"store_id": "s-1", "purchase_amount": 80.0})]
    bob_events: list[TouchpointEventBase] = [web("dev-bob-1", "product_view", 1),
                                             web("dev-bob-1", "login", 6, email_hash=bob)]
    return ann_events, bob_events, {"email_hash": email_hash, "phone_hash": phone_hash, "bob_email_hash": bob}


def publish(settings: Settings, events: list[TouchpointEventBase], raw: list[bytes] = ()) -> None:  # type: ignore[assignment]
    with Publisher.connect(settings, source="erasure-test") as publisher:
        for event in events:
            publisher.publish(event)
    producer = KafkaProducer(**producer_options(settings))
    for payload in raw:
        producer.send(topic(settings, raw_topic("web")), payload, key=b"bad")
    producer.close()


def needles_of(ann: list[TouchpointEventBase], ids: dict[str, str]) -> set[str]:
    """Every string that would name Ann: raw address and phone, hashes, ids, customer ids, event ids."""
    keys = {key for event in ann for key in event.identifiers.keys()}  # noqa: SIM118 (`kind:value` keys, a method)
    return ({key.split(":", 1)[1] for key in keys} | {customer_id_for(k) for k in keys}
            | {e.event_id for e in ann} | {ids["email_hash"], ids["phone_hash"], ANN_EMAIL, ANN_EMAIL.lower(),
                                           ANN_PHONE, normalise_phone(ANN_PHONE)})


def replay_with_sink_command(settings: Settings) -> None:
    """Run `journeys sink` (a group that has read nothing: it starts from offset 0) until it has
    committed every output topic to its end, then stop it."""
    group = f"{settings.kafka.topic_prefix}{SINK_APP_NAME}"
    log = (settings.data_dir / "sink.log").open("ab")
    sink = subprocess.Popen([str(Path(sys.executable).with_name("journeys")), "sink", "--loglevel", "warning"],
                            env=child_env(settings), cwd=settings.data_dir, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + REPLAY_TIMEOUT_S
        while not caught_up(settings, group):
            assert sink.poll() is None and time.monotonic() < deadline, (settings.data_dir / "sink.log").read_text()
            time.sleep(1.0)
        sink.send_signal(signal.SIGINT)
        sink.wait(timeout=60)
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait()


def caught_up(settings: Settings, group: str) -> bool:
    return h.uncommitted(settings, {group: {topic(settings, kind) for kind in SINK_TOPICS}}) == 0


def test_forget_leaves_nothing_and_nothing_brings_the_customer_back(settings: Settings, tmp_path: Path) -> None:
    local = h.pipeline_settings(settings, tmp_path)
    h.prepare(local)
    ann, bob, ids = people(local)
    bad = orjson.dumps(ann[1].model_dump(mode="json") | {"feedback": {"csat": 7}, "event_type": "feedback"})
    publish(local, ann + bob, [bad])
    h.run_until_idle(local)
    tables = h.dump(local, "--all")
    before = "\n".join(row for rows in tables.values() for row in rows)
    needles = needles_of(ann, ids)
    assert ids["email_hash"] in before and ann[0].event_id in before and '"csat": 7' in before.replace('":7', '": 7')
    ann_customers = {c for c in needles if c.startswith("cust-") and c in before}
    ann_journeys = {row.split("'")[1] for row in tables["journeys"] if any(c in row for c in ann_customers)}
    assert ann_customers and ann_journeys

    said = h.journeys(local, "forget", f"email:{ANN_EMAIL}").stdout.decode()
    assert "erased: " in said and "3 event(s)" in said
    replay_with_sink_command(local)

    tables = h.dump(local, "--all")
    text = "\n".join(row for rows in tables.values() for row in rows)
    assert not {needle for needle in needles if needle in text}, "still in the warehouse after the replay"
    assert ids["bob_email_hash"] in text and bob[0].event_id in text  # Bob's rows: written, also by the replay
    secret = secret_of(local)
    audit = [row for row in tables["identity_links"] if "'forget'" in row]
    assert len({row.split(",")[0] for row in audit}) == 1
    assert erased_token(f"email_hash:{ids['email_hash']}", secret) in audit[0]

    traces = topic_traces(local, needles)
    assert not {name: n for name, n in traces.compacted_view.items() if n}, "named on a compacted topic"
    state = traces.last_values[topic(local, STATE_TOPIC)]
    assert all(state[key] is None for key in state if key[1].decode() in ann_journeys)
    changelog = traces.last_values[f"{app_id(local)}-customer-state-changelog"]
    ann_states = [key for key in changelog if orjson.loads(key[1]) in ann_customers]
    assert ann_states and all(changelog[key] is None for key in ann_states)  # her state was there: tombstoned
    erasures = traces.last_values[topic(local, ERASURE_TOPIC)]
    assert erased_token(f"email_hash:{ids['email_hash']}", secret).encode() in {key for _, key in erasures}
    assert all(key.decode().startswith(ERASED_PREFIX) for _, key in erasures)
    assert None in h.topic_values(local, topic(local, IDENTITY_TOPIC))  # the tombstones of her customer ids
    found = file_traces(local.data_dir, needles)
    assert not found, f"files under the data dir name her: {found}"
    print(f"\nerasure search: tables 0, compacted topics 0, files 0; append-only topic logs: "
          f"{ {name.removeprefix(local.kafka.topic_prefix): n for name, n in traces.log.items() if n} }")

    later = web("dev-ann-1", "product_view", 60 * 24 * 3)
    publish(local, [later, web("dev-bob-1", "product_view", 60 * 24 * 3)])
    h.run_until_idle(local)
    tables = h.dump(local, "--all")
    text = "\n".join(row for rows in tables.values() for row in rows)
    assert not {needle for needle in needles | {later.event_id} if needle in text}
    assert any("erased on request" in row for row in tables["dead_letters"])  # Ann's later event, refused


def test_identifiers_are_read_hashed_or_refused(settings: Settings) -> None:
    key, customer = identifier_key("email: Ann@Example.com", settings)
    assert key == f"email_hash:{identifiers_from_raw(settings, email='ann@example.com').email_hash}" and customer is None
    assert identifier_key("crm_id:C-1", settings) == ("crm_id:C-1", None)
    assert identifier_key("customer_id:cust-0123", settings) == (None, "cust-0123")
    for bad in ("ann@example.com", "email:not-an-address", "shoe_size:44", "crm_id:"):
        with pytest.raises(ErasureError):
            identifier_key(bad, settings)
