"""A web shop's clickstream export, imported through the lookup mapping, becomes stitched journeys.

The sample (producers/mappings/samples/webshop_clickstream.csv) is what an analytics export looks
like: one row per tracked event, the event name alone saying what happened. Three visitors: one
browses, compares, logs in and buys; one abandons checkout for the help pages and a survey; one
signs up and buys. One row has an event name the table does not know, one a time in another
format: both are dead letters naming the row. The worker then runs on what was imported.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.kafka import topic
from foundation.settings import Settings
from producers.importer import import_file
from producers.mapping import load_mapping
from producers.publisher import Publisher
from schemas.channels import event_adapter
from schemas.outputs import DEADLETTER_TOPIC, STATE_TOPIC, STEPS_TOPIC, DeadLetter, raw_topic
from schemas.pii import hash_email
from streams.core.view import current
from tests.producers.readback import read_topic
from tests.reliability.harness import prepare_topics
from tests.streams.test_worker_e2e import read_all, run_until_idle

MAPPINGS = Path(__file__).parents[2] / "producers" / "mappings"
SAMPLE = MAPPINGS / "samples" / "webshop_clickstream.csv"
PARTITIONS = 2
UNKNOWN_NAME_ROW, BAD_TIME_ROW = "ev-0015", "ev-0025"


@pytest.fixture
def local(settings: Settings) -> Iterator[Settings]:
    local = settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"partitions": PARTITIONS, "local_broker": True})})
    prepare_topics(local)
    yield local


def sample_rows() -> list[dict[str, str]]:
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_clickstream_sample_imports_through_the_lookup_and_is_stitched(local: Settings, tmp_path: Path) -> None:
    rows = sample_rows()
    with Publisher.connect(local, source="importer") as pub:
        summary = import_file(pub, SAMPLE, load_mapping(MAPPINGS / "webshop_clickstream.yaml"), "web",
                              tmp_path / "rejects.jsonl")
    assert (summary.read, summary.published, summary.rejected) == (len(rows), len(rows) - 2, 2)

    letters = [DeadLetter.model_validate_json(r.value)
               for r in read_topic(local, topic(local, DEADLETTER_TOPIC), summary.rejected)]
    line_of = {row["event_id"]: number for number, row in enumerate(rows, start=2)}  # line 1 is the header
    assert sorted(d.source for d in letters) == sorted(
        f"importer:{SAMPLE.name}:{line_of[row]}" for row in (UNKNOWN_NAME_ROW, BAD_TIME_ROW))
    assert any("'scroll' is not in the lookup table" in d.reason for d in letters)

    events = {e.source_id: e for e in (event_adapter().validate_json(r.value) for r in
                                       read_topic(local, topic(local, raw_topic("web")), summary.published))}
    assert len(events) == summary.published
    for row in rows:
        if row["event_id"] in events:
            assert events[row["event_id"]].identifiers.anonymous_id == row["user_pseudo_id"]
    payment = events["ev-0011"]
    assert (payment.touchpoint, payment.event_type, payment.measures.checkout_step) == (
        "web.checkout", "checkout_step", 4)
    order = events["ev-0012"]
    assert (order.event_type, order.measures.order_amount, order.measures.cart_value) == ("order_placed", 59.9, 59.9)
    assert order.identifiers.email_hash == hash_email("ann.lee@example.com",
                                                      local.pii_secret.get_secret_value().encode("utf-8"))

    run_until_idle(local)
    steps = current(read_all(local, topic(local, STEPS_TOPIC))).values()
    customer_of_visitor: dict[str, set[str]] = defaultdict(set)
    for step in steps:
        customer_of_visitor[step["event"]["identifiers"]["anonymous_id"]].add(step["customer_id"])
    assert len(steps) == summary.published
    assert all(len(customers) == 1 for customers in customer_of_visitor.values())
    assert len({c for cs in customer_of_visitor.values() for c in cs}) == len({r["user_pseudo_id"] for r in rows})
    journeys = [j for j in current(read_all(local, topic(local, STATE_TOPIC))).values() if not j["retracted"]]
    visitor_of = {next(iter(customers)): visitor for visitor, customers in customer_of_visitor.items()}
    imported = [r["user_pseudo_id"] for r in rows if r["event_id"] not in (UNKNOWN_NAME_ROW, BAD_TIME_ROW)]
    assert {visitor_of[j["customer_id"]]: j["events"] for j in journeys} == {v: imported.count(v) for v in imported}
    phases = {visitor_of[j["customer_id"]]: sorted(j["phase_first_at"]) for j in journeys}
    assert phases == {"ga-1001.1772443812": ["compare", "purchase", "research"],
                      "ga-2002.1772452700": ["after_sales", "purchase", "research"],
                      "ga-3003.1772565600": ["purchase", "research"]}
