"""`journeys worker --exit-when-idle N`: idle from start counts, and the last health reaches the warehouse.

A worker restarted with nothing new to read used to wait for work that never came; the samples it
published on the way out were never written by its embedded sink, which stopped with it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
from kafka import KafkaProducer

from foundation.kafka import producer_options, topic
from foundation.settings import Settings
from schemas.outputs import raw_topic
from tests.reliability import corpus
from tests.reliability import harness as h

NOTHING_TO_READ_TIMEOUT_S = 90  # start, join, N idle seconds, stop: well under this on a busy machine
EVENTS = 3


def test_a_worker_with_nothing_to_read_stops_once_idle(settings: Settings, tmp_path: Path) -> None:
    local = h.pipeline_settings(settings, tmp_path)
    h.prepare(local)
    worker = h.start_worker(local, "--exit-when-idle", str(h.IDLE_EXIT_S))
    try:
        code = worker.wait(NOTHING_TO_READ_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert code == 0, f"still running after {NOTHING_TO_READ_TIMEOUT_S} s: {h.worker_log(local)}"


def test_the_last_health_samples_reach_the_warehouse_before_the_worker_exits(settings: Settings,
                                                                               tmp_path: Path) -> None:
    local = h.pipeline_settings(settings, tmp_path)
    h.prepare(local)
    producer = KafkaProducer(**producer_options(local))
    web = topic(local, raw_topic("web"))
    for n in range(EVENTS):
        producer.send(web, orjson.dumps(corpus.base() | {"source_id": f"idle-{n}"}), key=b"idle-device")
    producer.send(web, b"{not json", key=b"idle-device")
    producer.close()
    h.run_until_idle(local)
    health = h.dump(local)["health"]
    assert (health["worker_events"], health["worker_dead_letters"]) == (EVENTS, 1)
