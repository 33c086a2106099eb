"""Inputs too large to dead-letter as they are: the pipeline keeps going and the dead letter is kept.

A raw message of 700 KB (350,000 escaped double quotes, under Kafka's 1 MiB) is 1.4 MB once its
dead letter escapes it again: the producer refused it and the worker stopped at the same offset
after every restart. A collector body whose dead letter was over 1 MiB was answered 503 for ever
and neither the dead letter nor the request's valid events were written. Now the dead letter keeps
the payload cut (first and last bytes, size, SHA-256) and says so, and everything else goes on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
from kafka import KafkaProducer

from foundation.kafka import producer_options, topic
from foundation.settings import Settings
from schemas.outputs import DEADLETTER_TOPIC, STEPS_TOPIC, DeadLetter, raw_topic
from streams.core.view import current
from tests.producers.readback import read_topic
from tests.reliability import corpus
from tests.reliability import harness as h
from tests.reliability.test_bad_input import collector, post  # noqa: F401 (fixture)

PILL = b'{"channel": "web", "touchpoint": "web.product", "x": "' + b'\\"' * 350_000 + b'"}'


def test_the_worker_dead_letters_a_poison_pill_and_goes_on(settings: Settings, tmp_path: Path) -> None:
    local = h.pipeline_settings(settings, tmp_path)
    h.prepare(local)
    producer = KafkaProducer(**producer_options(local), max_request_size=2 * len(PILL))
    web = topic(local, raw_topic("web"))
    producer.send(web, PILL, key=b"bad-input-device")
    for n in range(2):
        producer.send(web, orjson.dumps(corpus.base() | {"source_id": f"after-pill-{n}"}), key=b"bad-input-device")
    producer.close()
    h.run_until_idle(local)  # exits 0: the worker did not stop on the pill
    letters = [DeadLetter.model_validate_json(r.value) for r in read_topic(local, topic(local, DEADLETTER_TOPIC), 1)]
    assert len(letters) == 1 and letters[0].payload_truncated and "payload truncated" in letters[0].reason
    assert letters[0].payload_sha256 == hashlib.sha256(PILL).hexdigest()
    steps = current([orjson.loads(r.value) for r in read_topic(local, topic(local, STEPS_TOPIC), 2)])
    assert len({s["event"]["event_id"] for s in steps.values()}) == 2  # the events after it were stitched
    stored = h.dump(local)["dead_letters"]
    assert len(stored) == 1 and "payload truncated" in stored[0]["reason"]


def test_the_collector_keeps_dead_letters_over_a_megabyte_and_publishes_the_rest(
        collector: tuple[str, Settings]) -> None:  # noqa: F811 (fixture)
    url, settings = collector
    escaped = {"channel": "web", "touchpoint": "web.product", "x": '"' * 500_000}  # 1 MB of \" in the body
    status, answer = post(url, orjson.dumps([corpus.base(), escaped]))
    assert (status, answer["accepted"], answer["rejected"]) == (202, 1, 1)
    control = b"\x01" * 300_000  # 1.8 MB once escaped as \u0001
    status, answer = post(url, control)
    assert status == 400 and "not JSON" in answer["error"]
    letters = [DeadLetter.model_validate_json(r.value)
               for r in read_topic(settings, topic(settings, DEADLETTER_TOPIC), 2)]
    assert len(letters) == 2 and all(d.payload_truncated and "payload truncated" in d.reason for d in letters)
    assert {d.payload_bytes for d in letters} == {len(control), len(orjson.dumps(escaped))}
    published = read_topic(settings, topic(settings, raw_topic("web")), 1)
    assert [orjson.loads(r.value)["source_id"] for r in published] == ["bad-input-base"]
