"""Bad input at every entrance: the collector, the importer and the raw topics (read by the worker).

Every kind of the corpus (tests/reliability/corpus.py) is answered with a clear reason and kept
in the dead-letter topic; the process keeps serving (a valid event after the corpus still goes
through); the counts in health are right (collector /healthz, importer summary, the worker's
health samples). A hypothesis fuzz test drives arbitrary bytes and near-valid JSON through the
decoding path: schemas.validation.validate and the worker's validate-then-record step.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from kafka import KafkaProducer
from pydantic import SecretStr

from foundation.kafka import ensure_topics, producer_options, topic
from foundation.settings import CollectorSettings, Settings
from producers.collector import running_collector
from producers.importer import import_file
from producers.mapping import load_mapping
from producers.publisher import Publisher
from schemas.deadletters import dead_letter_of
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map
from schemas.outputs import DEADLETTER_TOPIC, HEALTH_TOPIC, STEPS_TOPIC, DeadLetter, raw_topic
from schemas.validation import Rejection, validate
from streams.core.records import record_of
from streams.core.view import current
from tests.producers.readback import read_topic
from tests.reliability import corpus
from tests.reliability import harness as h

TOKEN = "reliability-token-0123456789"
HTTP_TIMEOUT_S = 30
MAPPING = Path(__file__).with_name("import_web.yaml")
MIN_KINDS = 40


def test_the_corpus_has_at_least_forty_kinds() -> None:
    names = [k.name for k in corpus.KINDS] + [name for name, _, _ in corpus.BODIES]
    assert len(set(names)) == len(names) >= MIN_KINDS


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url + "/v1/events", data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def collector(settings: Settings) -> Iterator[tuple[str, Settings]]:
    ensure_topics(settings)
    local = settings.model_copy(update={"collector": CollectorSettings(tokens=[SecretStr(TOKEN)])})
    with Publisher.connect(local, source="collector") as publisher, running_collector(local, publisher) as url:
        yield url, local


def test_the_collector_answers_and_keeps_every_kind(collector: tuple[str, Settings]) -> None:
    url, settings = collector
    for kind in corpus.kinds_for("collector"):
        status, answer = post(url, b"[" + kind.payload + b"]")
        reason = answer["errors"][0]["reason"] if status == 202 else answer["error"]
        assert (status == 202 and answer["rejected"] == 1) or status == 400, kind.name
        assert reason, kind.name
    for name, body, status in corpus.BODIES:
        got, answer = post(url, body)
        assert got == status and answer["error"], name
    assert post(url, orjson.dumps([corpus.base()]))[1]["accepted"] == 1  # still serving
    expected = len(corpus.kinds_for("collector")) + len(corpus.BODIES)
    letters = [DeadLetter.model_validate_json(r.value)
               for r in read_topic(settings, topic(settings, DEADLETTER_TOPIC), expected)]
    assert len(letters) == expected and all(d.reason and d.source == "collector" for d in letters)
    request = urllib.request.Request(url + "/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
        counts = json.loads(answer.read())["counts"]
    assert counts["rejected_total"] == expected and counts["published_total"] == 1


def test_the_importer_rejects_every_kind_with_its_line_and_carries_on(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings)
    kinds = corpus.kinds_for("importer")
    export = tmp_path / "web-export.jsonl"
    export.write_bytes(b"\n".join([k.payload for k in kinds] + [orjson.dumps(corpus.base())]) + b"\n")
    with Publisher.connect(settings, source="importer") as publisher:
        summary = import_file(publisher, export, load_mapping(MAPPING), "web", tmp_path / "rejects.jsonl")
    assert (summary.read, summary.published, summary.rejected) == (len(kinds) + 1, 1, len(kinds))
    letters = [DeadLetter.model_validate_json(r.value)
               for r in read_topic(settings, topic(settings, DEADLETTER_TOPIC), len(kinds))]
    lines = sorted(int(d.source.rsplit(":", 1)[1]) for d in letters)
    assert lines == list(range(1, len(kinds) + 1)) and all(d.reason for d in letters)


def test_the_worker_dead_letters_every_kind_from_the_raw_topics(settings: Settings, tmp_path: Path) -> None:
    local = h.pipeline_settings(settings, tmp_path)
    h.prepare_topics(local)
    kinds = corpus.kinds_for("topic")
    valid = [corpus.base(), corpus.base() | {"source_id": "bad-input-second"}]
    producer = KafkaProducer(**producer_options(local))
    web = topic(local, raw_topic("web"))
    for payload in [k.payload for k in kinds] + [orjson.dumps(v) for v in (*valid, valid[0])]:  # a duplicate too
        producer.send(web, payload, key=b"bad-input-device")
    producer.close()
    h.run_until_idle(local, sink=False)
    letters = [DeadLetter.model_validate_json(r.value)
               for r in read_topic(local, topic(local, DEADLETTER_TOPIC), len(kinds))]
    assert len(letters) == len(kinds) and all(d.reason and d.source.startswith(f"topic:{web}/") for d in letters)
    health = [orjson.loads(r.value) for r in read_topic(local, topic(local, HEALTH_TOPIC), 1)]
    assert sum(s["dead_letters"] for s in health) == len(kinds) and sum(s["events"] for s in health) == 3
    steps = current([orjson.loads(r.value) for r in read_topic(local, topic(local, STEPS_TOPIC), 2)])
    assert len({s["event"]["event_id"] for s in steps.values()}) == 2  # the duplicate changed nothing


JOURNEY_MAP = load_journey_map()


def decode_like_the_worker(payload: bytes) -> str:
    """The worker's validate step for one message: a record for stage 2, or a dead letter."""
    journey_map = JOURNEY_MAP
    result = validate(payload, "topic:fuzz/0/0", journey_map)
    if isinstance(result, Rejection):
        letter = dead_letter_of(result, "web")
        assert letter.reason and letter.problems
        return "dead"
    assert isinstance(result, TouchpointEventBase)
    record_of(result, journey_map)
    return "event"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20)
near_valid = st.fixed_dictionaries({}, optional={
    key: st.one_of(st.just(value), json_values) for key, value in corpus.base().items()})


@hypothesis_settings(max_examples=250, deadline=None, database=None)
@given(payload=st.one_of(st.binary(max_size=400), json_values.map(lambda v: json.dumps(v).encode()),
                         near_valid.map(lambda v: json.dumps(v).encode())))
def test_decoding_never_raises_and_always_answers(payload: bytes) -> None:
    assert decode_like_the_worker(payload) in ("dead", "event")
