"""The edge owns time, place and free text, at every entrance (real broker, real warehouse).

A sender that forges received_time (2999) cannot carry an event dated 2998 into the warehouse, nor
make its own clock the received time; a store event written on the web topic is a dead letter
naming both; an address or phone number in a web path, a referrer or a comment never reaches an
output topic or the warehouse, whether it came through the collector, the importer or a raw topic.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer
from pydantic import SecretStr

from foundation.kafka import ensure_topics, producer_options, topic
from foundation.settings import CollectorSettings, Settings
from producers.collector import running_collector
from producers.importer import import_file
from producers.mapping import load_mapping
from producers.publisher import Publisher
from schemas.events import derive_event_id
from schemas.outputs import DEADLETTER_TOPIC, STEPS_TOPIC, DeadLetter, raw_topic
from tests.producers.readback import read_topic
from tests.reliability import corpus
from tests.reliability import harness as h

TOKEN = "edge-token-0123456789abcdef"
MAPPING = Path(__file__).with_name("import_web.yaml")
ADDRESS, ENCODED = "ann.lee@example.com", "ann.lee%40example.com"
PHONE = "+44 7700 900123"
PII = ("ann.lee", "example.com", "7700")  # no trace of either, in any form


def forged_future() -> dict[str, Any]:
    return corpus.base() | {"source_id": "edge-forged", "event_time": "2998-06-01T00:00:00Z",
                            "received_time": "2999-01-01T00:00:00Z"}


def forged_received() -> dict[str, Any]:
    return corpus.base() | {"source_id": "edge-clock", "received_time": "2999-01-01T00:00:00Z"}


def with_pii() -> dict[str, Any]:
    return corpus.base() | {"source_id": "edge-pii", "measures": {
        "path": f"/checkout?email={ENCODED}&tel=%2B447700900123", "referrer": f"https://mail.example.org/?to={ADDRESS}"}}


def feedback_with_pii() -> dict[str, Any]:
    return corpus.feedback(csat=1, comment=f"write to {ADDRESS} or call {PHONE}") | {"source_id": "edge-comment"}


def store_on_web() -> dict[str, Any]:
    return corpus.base() | {"source_id": "edge-store", "channel": "store", "touchpoint": "store.checkout",
                            "event_type": "purchase", "measures": {"purchase_amount": 12.5}}


def assert_no_pii(texts: list[str]) -> None:
    found = [text for text in texts for trace in PII if trace in text]
    assert not found, found[:3]


def test_the_worker_intake_owns_time_place_and_free_text(settings: Settings, tmp_path: Path) -> None:
    local = h.pipeline_settings(settings, tmp_path)
    h.prepare(local)
    producer = KafkaProducer(**producer_options(local))
    web = topic(local, raw_topic("web"))
    for event in (forged_future(), forged_received(), with_pii(), feedback_with_pii(), store_on_web()):
        producer.send(web, orjson.dumps(event), key=b"edge-device")
    producer.close()
    before = datetime.now(UTC)
    h.run_until_idle(local)
    letters = {d.source.rsplit("/", 1)[1]: d for d in
               (DeadLetter.model_validate_json(r.value) for r in read_topic(local, topic(local, DEADLETTER_TOPIC), 2))}
    assert len(letters) == 2, [d.reason for d in letters.values()]
    assert "2998-06-01" in letters["0"].reason and "in the future" in letters["0"].reason
    assert "'store'" in letters["4"].reason and "touchpoints.web" in letters["4"].reason
    steps = [orjson.loads(r.value) for r in read_topic(local, topic(local, STEPS_TOPIC), 3)]
    assert {s["event"]["source_id"] for s in steps} == {"edge-clock", "edge-pii", "edge-comment"}
    assert_no_pii([r.value.decode() for r in read_topic(local, topic(local, STEPS_TOPIC), 3)])
    warehouse = h.dump(local, "--all")
    assert_no_pii([*warehouse["touchpoints"], *warehouse["journey_steps"]])
    received = [row for row in warehouse["touchpoints"] if derive_event_id("web", "edge-clock") in row]
    assert len(received) == 1 and "2999" not in received[0] and str(before.year) in received[0]


@pytest.fixture
def collector(settings: Settings) -> Iterator[tuple[str, Settings]]:
    ensure_topics(settings)
    local = settings.model_copy(update={"collector": CollectorSettings(tokens=[SecretStr(TOKEN)])})
    with Publisher.connect(local, source="collector") as publisher, running_collector(local, publisher) as url:
        yield url, local


def post(url: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    request = urllib.request.Request(url + "/v1/events", data=orjson.dumps(events), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 202
        return dict(json.loads(answer.read()))


def test_the_collector_owns_received_time_and_scrubs_free_text(collector: tuple[str, Settings]) -> None:
    url, settings = collector
    answer = post(url, [forged_future(), forged_received(), with_pii(), feedback_with_pii()])
    assert (answer["accepted"], answer["rejected"]) == (3, 1)
    assert "in the future" in answer["errors"][0]["reason"]
    published = [orjson.loads(r.value) for r in read_topic(settings, topic(settings, raw_topic("web")), 3)]
    assert len(published) == 3
    assert_no_pii([json.dumps(event) for event in published])
    clock = next(e for e in published if e["source_id"] == "edge-clock")
    assert datetime.fromisoformat(clock["received_time"]) < datetime.now(UTC) + timedelta(minutes=1)
    paths = {e["source_id"]: e["measures"].get("path") for e in published}
    assert paths["edge-pii"] == "/checkout?email=[email]&tel=[phone]"


def test_the_collector_keeps_a_sender_clock_only_within_the_configured_skew(settings: Settings) -> None:
    """JOURNEYS_RECEIVED_SKEW_S is the collector's too, not only the importer's and the worker's."""
    ensure_topics(settings)
    local = settings.model_copy(update={"collector": CollectorSettings(tokens=[SecretStr(TOKEN)]),
                                        "received_skew_s": 10.0})
    ahead = datetime.now(UTC) + timedelta(minutes=2)  # within the default 300 s, beyond the 10 s configured
    fast_clock = corpus.base() | {"source_id": "edge-skew", "received_time": ahead.isoformat()}
    with Publisher.connect(local, source="collector") as publisher, running_collector(local, publisher) as url:
        assert post(url, [fast_clock])["accepted"] == 1
    [published] = [orjson.loads(r.value) for r in read_topic(local, topic(local, raw_topic("web")), 1)]
    assert datetime.fromisoformat(published["received_time"]) < ahead - timedelta(seconds=60)


def test_the_importer_scrubs_free_text(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings)
    export = tmp_path / "web-export.jsonl"
    rows = [with_pii(), corpus.base() | {"source_id": "edge-plain"}]
    export.write_bytes(b"\n".join(orjson.dumps(row) for row in rows) + b"\n")
    with Publisher.connect(settings, source="importer") as publisher:
        summary = import_file(publisher, export, load_mapping(MAPPING), "web", tmp_path / "rejects.jsonl")
    assert (summary.published, summary.rejected) == (2, 0)
    published = [orjson.loads(r.value) for r in read_topic(settings, topic(settings, raw_topic("web")), 2)]
    assert_no_pii([json.dumps(event) for event in published])
    assert {e["measures"]["path"] for e in published} == {"/checkout?email=[email]&tel=[phone]", "/kettle"}
