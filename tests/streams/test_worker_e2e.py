"""End to end through the local broker: a simulation in, the worker as a process, journeys out.

The simulator's ground truth must equal what the worker publishes (newest version per id,
retracted ones dropped): customers resolved, journeys per customer with their phases, friction by
rule and evidence. Then the same with the worker SIGKILLed in the middle and restarted: the final
result is identical (state comes back from the changelog; replays are idempotent); frozen mid-way
for longer than its idle time, it still finishes before it stops. Bad raw
messages become dead letters naming their topic, partition and offset; health samples count both.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from foundation.kafka import common_options, ensure_topics, producer_options, topic
from foundation.settings import Settings, StreamsSettings
from journeys.embedded import child_env
from producers.publisher import Publisher
from producers.simulator.core import Simulation, simulate
from producers.simulator.run import publish
from schemas.journeymap import load_journey_map
from schemas.outputs import DEADLETTER_TOPIC, FRICTION_TOPIC, HEALTH_TOPIC, STATE_TOPIC, STEPS_TOPIC, raw_topic
from streams.core.view import current
from streams.topology import CUSTOMER_WORK_TOPIC, worker_topics
from tests.streams import truth

CUSTOMERS = 2000
SEED = 20260301
DAYS = 90
START = datetime(2026, 1, 5, tzinfo=UTC)
PARTITIONS = 4
IDLE_EXIT_S = 3
WORKER_TIMEOUT_S = 150
READ_TIMEOUT_S = 60
POLL_MS = 250
PAUSED_SESSION_MS = 15_000  # > heartbeat interval (a third of it) + the 2 * IDLE_EXIT_S pause


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    return simulate(CUSTOMERS, SEED, DAYS, START, load_journey_map(), b"e2e-secret")


@pytest.fixture
def published(settings: Settings, simulation: Simulation) -> Iterator[Settings]:
    local = settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"partitions": PARTITIONS, "local_broker": True})})
    ensure_topics(local)
    ensure_topics(local, worker_topics(local))
    with Publisher.connect(local, source="e2e") as publisher:
        publish(simulation.deliveries, publisher, show_progress=False)
    yield local


def worker_env(settings: Settings) -> dict[str, str]:
    """Exactly the test's settings for the worker process, with the local broker's workarounds."""
    return child_env(settings.model_copy(update={
        "kafka": settings.kafka.model_copy(update={"local_broker": True}),
        "streams": StreamsSettings(store="memory://"), "log_level": "WARNING"}))


def start_worker(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    journeys = str(Path(sys.executable).with_name("journeys"))
    log = (settings.data_dir / "worker.log").open("ab")
    return subprocess.Popen([journeys, "worker", *args], env=worker_env(settings), cwd=settings.data_dir,
                            stdout=log, stderr=subprocess.STDOUT)


def run_until_idle(settings: Settings) -> None:
    worker = start_worker(settings, "--exit-when-idle", str(IDLE_EXIT_S))
    try:
        code = worker.wait(WORKER_TIMEOUT_S)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code == 0, (settings.data_dir / "worker.log").read_text()[-3000:]


def read_all(settings: Settings, name: str) -> list[dict[str, Any]]:
    """Every record of a topic, from the beginning to its end.

    The end is each partition's high watermark as the fetch responses report it (ListOffsets is
    wrong on the local broker): a quiet spell alone is no proof, the first fetch of a loaded
    machine can take longer than any quiet spell a test would wait.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while not _at_end(consumer, partitions):
            assert time.monotonic() < deadline, f"{name}: not read to its end in {READ_TIMEOUT_S} s"
            records += [orjson.loads(r.value) for rs in consumer.poll(timeout_ms=POLL_MS).values() for r in rs]
        return records
    finally:
        consumer.close()


def _at_end(consumer: Any, partitions: list[Any]) -> bool:
    ends = [consumer.highwater(tp) for tp in partitions]
    return all(end is not None and consumer.position(tp) >= end for tp, end in zip(partitions, ends, strict=True))


def outputs(settings: Settings) -> dict[str, dict[str, dict[str, Any]]]:
    return {name: current(read_all(settings, topic(settings, name)))
            for name in (STEPS_TOPIC, STATE_TOPIC, FRICTION_TOPIC)}


def assert_matches_truth(settings: Settings, simulation: Simulation) -> None:
    out = outputs(settings)
    steps, snapshots, friction = out[STEPS_TOPIC], out[STATE_TOPIC], out[FRICTION_TOPIC]
    assert truth.customers(steps) == truth.truth_customers(simulation.truth)
    assert truth.journeys(steps, snapshots) == truth.truth_journeys(simulation.truth)
    assert truth.friction(friction) == truth.truth_friction(simulation.truth)
    dead = read_all(settings, topic(settings, DEADLETTER_TOPIC))
    assert len(dead) >= simulation.truth.totals.malformed


def test_the_worker_matches_the_ground_truth(published: Settings, simulation: Simulation) -> None:
    web = topic(published, raw_topic("web"))
    producer = KafkaProducer(**producer_options(published))
    producer.send(web, b"{not json", key=b"bad", partition=0)
    producer.close()
    run_until_idle(published)
    assert_matches_truth(published, simulation)
    [bad] = [d for d in read_all(published, topic(published, DEADLETTER_TOPIC)) if d["source"].startswith("topic:")]
    assert bad["source"].startswith(f"topic:{web}/0/") and bad["channel"] == "web"
    health = read_all(published, topic(published, HEALTH_TOPIC))
    totals = simulation.truth.totals
    assert sum(h["events"] for h in health) == totals.deliveries - totals.malformed
    assert sum(h["dead_letters"] for h in health) == 1
    # the whole simulation waited on the broker when the worker started: the busiest channel's lag was seen
    assert 0 < max(h["lag"] for h in health if h["channel"] == "web") <= len(simulation.deliveries) + 1


def test_a_killed_and_restarted_worker_ends_with_the_same_result(published: Settings,
                                                                  simulation: Simulation) -> None:
    worker = start_worker(published)
    try:
        wait_for_steps(published, len(simulation.events()) // 3)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    run_until_idle(published)
    assert_matches_truth(published, simulation)


def test_a_worker_kept_from_running_longer_than_its_idle_time_finishes_its_work(published: Settings,
                                                                                simulation: Simulation) -> None:
    """On a loaded machine one message can keep a stage busy for longer than --exit-when-idle; the
    worker stopped there once, exiting 0 with the rest of its input unhandled. Here it is frozen
    (SIGSTOP) for twice its idle time once its first steps are out (most of its work still ahead):
    it goes on afterwards and stops only when done."""
    # heartbeats pause with the process: a session long enough that the group keeps the member
    paused = published.model_copy(update={"kafka": published.kafka.model_copy(
        update={"session_timeout_ms": PAUSED_SESSION_MS})})
    worker = start_worker(paused, "--exit-when-idle", str(IDLE_EXIT_S))
    try:
        wait_for_steps(paused, 1)
        worker.send_signal(signal.SIGSTOP)
        time.sleep(2 * IDLE_EXIT_S)
        worker.send_signal(signal.SIGCONT)
        code = worker.wait(WORKER_TIMEOUT_S)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGCONT)
            worker.kill()
    assert code == 0, (paused.data_dir / "worker.log").read_text()[-3000:]
    assert_matches_truth(paused, simulation)


def wait_for_steps(settings: Settings, wanted: int) -> None:
    """Block until the steps topic holds `wanted` records (the worker is mid-way)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic(settings, STEPS_TOPIC), **common_options(settings), group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    seen, deadline = 0, time.monotonic() + WORKER_TIMEOUT_S
    try:
        while seen < wanted and time.monotonic() < deadline:
            seen += sum(len(rs) for rs in consumer.poll(timeout_ms=POLL_MS).values())
    finally:
        consumer.close()
    assert seen >= wanted, (settings.data_dir / "worker.log").read_text()[-3000:]


def test_a_stage_that_fails_stops_the_worker_rather_than_going_on_without_its_work(settings: Settings) -> None:
    """Work between the stages is the worker's own; one it cannot read is a fault to stop at (restarted,
    the worker recovers from its changelogs), not something to restart the stage over and skip."""
    local = settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"partitions": PARTITIONS, "local_broker": True})})
    ensure_topics(local, worker_topics(local))
    producer = KafkaProducer(**producer_options(local))
    producer.send(topic(local, CUSTOMER_WORK_TOPIC), b"not a work message", key=b"batch", partition=0)
    producer.close()
    worker = start_worker(local)  # no idle exit: only a failure ends it
    try:
        code = worker.wait(WORKER_TIMEOUT_S)
    finally:
        if worker.poll() is None:
            worker.kill()
    log = (local.data_dir / "worker.log").read_text()
    assert code != 0, log[-3000:]
    assert "stage stitch failed" in log and "JSONDecodeError" in log, log[-3000:]
