"""Reliability tests' harness: the pipeline as real processes, the warehouse read back after they stop.

The worker runs as `journeys worker --sink` in its own process with its own embedded warehouse
(chDB opens one data path per process, and this test process may hold the session's path), so the
warehouse is read by a short child process (`python -m tests.reliability.dump`) once the worker has
stopped. Results are compared with the simulator's ground truth in the same terms as the stream
processor's end-to-end test (tests/streams/truth.py).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from clickhouse.agents import sink_group
from clickhouse.sink import SINK_TOPICS
from foundation.kafka import common_options, ensure_topics, topic
from foundation.settings import Settings, StreamsSettings
from journeys.embedded import child_env
from producers.publisher import Publisher
from producers.simulator.core import Simulation, simulate
from producers.simulator.run import publish
from schemas.journeymap import load_journey_map
from schemas.outputs import STEPS_TOPIC
from streams.core.view import current
from streams.tansu_fixes import fetch_highwaters
from streams.topology import app_id, worker_topics
from tests.streams import truth

PARTITIONS = 4
MAPPINGS = Path(__file__).parents[2] / "producers" / "mappings"
START = datetime(2026, 1, 5, tzinfo=UTC)
DAYS = 90
IDLE_EXIT_S = 4
WORKER_TIMEOUT_S = 240  # a guard against a hung worker, not a speed assertion
COMMAND_TIMEOUT_S = 120
DRAIN_POLL_S = 2.0
DRAINED_CHECKS = 2
STOP_TIMEOUT_S = 60
QUIET_POLLS = 4
POLL_MS = 250
PUBLISH_PACE_EVENTS_S = 800.0  # slow enough that the disturbances happen while events still arrive


def simulation_of(customers: int, seed: int) -> Simulation:
    return simulate(customers, seed, DAYS, START, load_journey_map(), b"reliability-secret")


def pipeline_settings(settings: Settings, tmp: Path) -> Settings:
    """The test's settings for child processes: the local broker's workarounds, an own warehouse path."""
    kafka = settings.kafka.model_copy(update={"partitions": PARTITIONS, "local_broker": True})
    clickhouse = settings.clickhouse.model_copy(update={"dsn": f"chdb://{(tmp / 'warehouse').resolve()}"})
    return settings.model_copy(update={"kafka": kafka, "clickhouse": clickhouse, "log_level": "WARNING",
                                       "streams": StreamsSettings(store="memory://"), "data_dir": tmp})


def journeys(settings: Settings, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run `journeys ARGS` to completion with exactly these settings."""
    command = [str(Path(sys.executable).with_name("journeys")), *args]
    result = subprocess.run(command, env=child_env(settings), cwd=settings.data_dir, capture_output=True,
                            timeout=COMMAND_TIMEOUT_S, check=False)
    assert not check or result.returncode == 0, result.stderr.decode()[-3000:]
    return result


def prepare_topics(settings: Settings) -> None:
    ensure_topics(settings)
    ensure_topics(settings, worker_topics(settings))


def prepare(settings: Settings) -> None:
    """Topics and warehouse tables, as `journeys up` creates them."""
    prepare_topics(settings)
    journeys(settings, "migrate")


def start_worker(settings: Settings, *args: str, sink: bool = True) -> subprocess.Popen[bytes]:
    journeys_bin = str(Path(sys.executable).with_name("journeys"))
    log = (settings.data_dir / "worker.log").open("ab")
    command = [journeys_bin, "worker", *(["--sink"] if sink else []), *args]
    return subprocess.Popen(command, env=child_env(settings),
                            cwd=settings.data_dir, stdout=log, stderr=subprocess.STDOUT)


def worker_log(settings: Settings) -> str:
    path = settings.data_dir / "worker.log"
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def run_until_idle(settings: Settings, sink: bool = True) -> None:
    worker = start_worker(settings, "--exit-when-idle", str(IDLE_EXIT_S), sink=sink)
    try:
        code = worker.wait(WORKER_TIMEOUT_S)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert code == 0, worker_log(settings)


def backlog(settings: Settings) -> int:
    """Messages not committed yet: by the worker's group on its work topics, by its sink's on the outputs.

    The raw topics are left out (stage 1 reads them with a consumer of its own), so progress there
    is judged by the steps produced (see `drain`).
    """
    outputs = {topic(settings, kind) for kind in SINK_TOPICS}
    work = {t.name for t in worker_topics(settings)}
    return uncommitted(settings, {app_id(settings): work, sink_group(app_id(settings)): outputs})


def uncommitted(settings: Settings, groups: dict[str, set[str]]) -> int:
    """Messages each consumer group (-> the topics it reads) has not committed yet, summed.

    End offsets come from Fetch responses (the local broker's ListOffsets is wrong); the sink
    commits a batch only after writing it, so 0 for its group means everything produced is in the
    warehouse."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    names = sorted(set().union(*groups.values()))
    consumer = KafkaConsumer(**common_options(settings), group_id=None)
    try:
        partitions = [TopicPartition(n, p) for n in names for p in sorted(consumer.partitions_for_topic(n) or [])]
    finally:
        consumer.close()
    ends = fetch_highwaters(settings, partitions)
    admin = KafkaAdminClient(**common_options(settings))
    try:
        committed = {}
        for group, read in groups.items():
            committed |= {tp: meta.offset for tp, meta in admin.list_group_offsets(group).get(group, {}).items()
                          if tp.topic in read}
    finally:
        admin.close()
    return sum(max(0, end - max(0, committed.get(tp, 0))) for tp, end in ends.items())


def stepped_events(settings: Settings) -> int:
    """Distinct events that have a step on journeys.steps."""
    return len(current([orjson.loads(v) for v in topic_values(settings, topic(settings, STEPS_TOPIC))]))


def drain(settings: Settings, events: int) -> None:
    """Run the worker with its sink until every event has a step and the group has committed all its
    work and output twice in a row; then stop it."""
    worker = start_worker(settings)
    deadline, drained = time.monotonic() + WORKER_TIMEOUT_S, 0
    try:
        while drained < DRAINED_CHECKS:
            assert worker.poll() is None and time.monotonic() < deadline, worker_log(settings)
            time.sleep(DRAIN_POLL_S)
            done = backlog(settings) == 0 and (drained or stepped_events(settings) >= events)
            drained = drained + 1 if done else 0
        worker.send_signal(signal.SIGTERM)
        worker.wait(STOP_TIMEOUT_S)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


@contextmanager
def publishing(settings: Settings, simulation: Simulation, rate: float | None = PUBLISH_PACE_EVENTS_S
               ) -> Iterator[threading.Event]:
    """Publish the simulation on a thread (load while the test disturbs the pipeline); joined on exit."""
    done, errors = threading.Event(), []

    def run() -> None:
        try:
            with Publisher.connect(settings, source="reliability") as publisher:
                publish(simulation.deliveries, publisher, rate=rate, show_progress=False)
        except Exception as err:  # surfaced by the assertion below
            errors.append(err)
        finally:
            done.set()

    thread = threading.Thread(target=run, name="reliability-publisher", daemon=True)
    thread.start()
    try:
        yield done
    finally:
        thread.join(WORKER_TIMEOUT_S)
    assert not errors, errors


def topic_values(settings: Settings, name: str) -> list[bytes]:
    """Every value of a topic, read from the start until it stays quiet (end offsets lie here)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        values: list[bytes] = []
        quiet = 0
        while quiet < QUIET_POLLS:
            got = [r.value for records in consumer.poll(timeout_ms=POLL_MS).values() for r in records]
            values, quiet = values + got, 0 if got else quiet + 1
        return values
    finally:
        consumer.close()


def count_records(settings: Settings, name: str) -> int:
    return len(topic_values(settings, name))


def dump(settings: Settings, *args: str) -> dict[str, Any]:
    """The warehouse's current view (`--all`: every row), read by a child process (the worker must have stopped)."""
    result = subprocess.run([sys.executable, "-m", "tests.reliability.dump", *args], env=child_env(settings),
                            cwd=Path(__file__).parents[2], capture_output=True, timeout=COMMAND_TIMEOUT_S,
                            check=False)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return dict(orjson.loads(result.stdout))


def assert_warehouse_matches_truth(warehouse: dict[str, Any], simulation: Simulation) -> None:
    """Customers, journeys with phases reached, friction by rule: exactly the ground truth."""
    steps = {row["event_id"]: row | {"event": {"event_id": row["event_id"]}} for row in warehouse["steps"]}
    snapshots = {row["journey_id"]: row for row in warehouse["journeys"]}
    frictions = {row["friction_id"]: row for row in warehouse["friction"]}
    assert truth.customers(steps) == truth.truth_customers(simulation.truth)
    assert truth.journeys(steps, snapshots) == truth.truth_journeys(simulation.truth)
    assert truth.friction(frictions) == truth.truth_friction(simulation.truth)
    counts = warehouse["counts"]
    events = len(simulation.events())
    assert counts["touchpoints"] == counts["touchpoint_ids"] == events  # nothing lost, nothing doubled
    assert counts["steps"] == counts["step_ids"] == events
