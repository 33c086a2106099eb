"""The raw limits of this machine, the ceilings the pipeline's figures are compared with.

`run() -> dict[str, float]`, medians of RUNS runs:
- `simulate_events_per_s`: the simulator's core (`producers.simulator.simulate`) generating
  deliveries (contract models and truth); `simulator_publish_events_per_s`: `Publisher.publish_many`
  of those deliveries into the local broker, acknowledged; `simulate_and_publish_events_per_s`:
  measured end to end as `journeys simulate --as-fast-as-possible` does it (two child processes
  each planning, encoding and writing the truth of half the people and streaming their encoded
  events in arrival order, this one merging and publishing them; clock stopped once every delivery
  is acknowledged and the ground truth assembled). Target >= 30,000 events/s. With it, the CPU
  time per delivery (us) of this process (`..._parent_cpu_us_per_event`, its Kafka client threads
  included) and of the two children together (`..._children_cpu_us_per_event`), which other work
  on the machine moves much less than the rate. Measured first, before this process holds any
  simulation (see `end_to_end_rates`).
- `kafka_python_consume_events_per_s`: kafka-python reads every raw message back (manual
  assignment, no group) and json.loads it; `aiokafka_consume_events_per_s`: the same with
  aiokafka `getmany(max_records=1000)`. The clock stops when the last expected message is decoded.
- `chdb_insert_rows_per_s`: clickhouse-connect row inserts of 10,000-row batches into a plain
  MergeTree table of embedded chDB; `chdb_insert_arrow_rows_per_s`: the same rows as Arrow tables.
Run: python -m bench.raw_limits
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.common import broker_settings, median_of
from clickhouse.client import connect
from foundation.kafka import common_options, raw_topics
from foundation.localbroker import local_broker
from foundation.settings import ClickHouseSettings, Settings
from producers.publisher import Publisher
from producers.simulator.core import simulate
from producers.simulator.parallel import ENCODE_CHUNK, SimulationArgs, simulated_in_child
from producers.simulator.run import publish_encoded
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map

RUNS = 3
CUSTOMERS = 2000
DAYS = 90
SEED = 99
START = datetime(2026, 1, 5, tzinfo=UTC)
PUBLISH_CHUNK = 5000
FETCH_RECORDS = 1000
INSERT_ROWS = 200_000
INSERT_BATCH_ROWS = 10_000
CONSUME_TIMEOUT_S = 120.0
INSERT_TABLE = """CREATE TABLE IF NOT EXISTS raw_insert (event_id String, event_time DateTime64(3, 'UTC'),
    channel LowCardinality(String), touchpoint LowCardinality(String), customer_id String, dwell_s Float64,
    measures_json String) ENGINE = MergeTree ORDER BY (touchpoint, event_time, event_id)"""
INSERT_COLUMNS = ("event_id", "event_time", "channel", "touchpoint", "customer_id", "dwell_s", "measures_json")


def simulated_events() -> tuple[list[TouchpointEventBase], float]:
    """The valid deliveries of a seeded simulation, and the generation rate (deliveries/s)."""
    started = time.perf_counter()
    simulation = simulate(CUSTOMERS, SEED, DAYS, START, load_journey_map(), b"bench-secret")
    rate = len(simulation.deliveries) / (time.perf_counter() - started)
    return [d.payload for d in simulation.deliveries if isinstance(d.payload, TouchpointEventBase)], rate


def publish_rate(settings: Settings, events: list[TouchpointEventBase]) -> float:
    with Publisher.connect(settings, source="bench") as publisher:
        started = time.perf_counter()
        for i in range(0, len(events), PUBLISH_CHUNK):
            publisher.publish_many(events[i:i + PUBLISH_CHUNK])
        publisher.flush()
        return len(events) / (time.perf_counter() - started)


def simulate_and_publish(settings: Settings) -> dict[str, float]:
    """The end-to-end rate, and the CPU each side spent per delivery (robust to other load on the
    machine: the children's share is the two planners' together; the broker's is not counted)."""
    args = SimulationArgs(CUSTOMERS, SEED, DAYS, START, load_journey_map(), b"bench-secret")
    before = (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    started = time.perf_counter()
    with simulated_in_child(args, ENCODE_CHUNK) as child:
        with Publisher.connect(settings, source="bench", bulk_only=True) as publisher:
            publish_encoded(child.chunks(), child.deliveries, publisher, show_progress=False)
        child.truth()
    elapsed_s = time.perf_counter() - started
    spent = [_cpu_s(resource.getrusage(who)) - _cpu_s(was)
             for who, was in zip((resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN), before, strict=True)]
    return {"simulate_and_publish_events_per_s": child.deliveries / elapsed_s,
            "simulate_and_publish_parent_cpu_us_per_event": spent[0] / child.deliveries * 1e6,
            "simulate_and_publish_children_cpu_us_per_event": spent[1] / child.deliveries * 1e6}


def _cpu_s(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def kafka_python_rate(settings: Settings, expected: int) -> float:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(n, p) for n in raw_topics(settings) for p in consumer.partitions_for_topic(n) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        started, seen, deadline = time.perf_counter(), 0, time.monotonic() + CONSUME_TIMEOUT_S
        while seen < expected and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=500, max_records=10_000).values():
                seen += sum(1 for m in messages if json.loads(m.value))
        return seen / (time.perf_counter() - started)
    finally:
        consumer.close()


async def _aiokafka_rate(settings: Settings, expected: int) -> float:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(n, p) for n in raw_topics(settings)
                 for p in consumer.partitions_for_topic(n) or (await _partitions(consumer, n))]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        started, seen, deadline = time.perf_counter(), 0, time.monotonic() + CONSUME_TIMEOUT_S
        while seen < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=FETCH_RECORDS)
            seen += sum(1 for messages in batches.values() for m in messages if json.loads(m.value))
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def _partitions(consumer: Any, name: str) -> set[int]:
    await consumer._client.force_metadata_update()  # first lookup of a topic: metadata not fetched yet
    return consumer.partitions_for_topic(name) or set()


def insert_batches(count: int) -> list[list[list[Any]]]:
    """Batches of touchpoint-like rows (ids, times, a JSON measures blob of ~60 bytes)."""
    now = datetime.now(UTC)
    rows = [[f"e-{i:09d}", now, "web", f"web.page{i % 12}", f"cust-{i % 50_000}", float(i % 120),
             json.dumps({"path": f"/products/{i % 500}", "session_id": f"s-{i // 7}"})] for i in range(count)]
    return [rows[i:i + INSERT_BATCH_ROWS] for i in range(0, count, INSERT_BATCH_ROWS)]


def chdb_rates(directory: Path) -> dict[str, float]:
    settings = Settings(data_dir=directory, clickhouse=ClickHouseSettings(database="raw_limits"))
    client = connect(settings)
    client.command(INSERT_TABLE)
    batches = insert_batches(INSERT_ROWS)
    arrow = [pa.Table.from_pylist([dict(zip(INSERT_COLUMNS, row, strict=True)) for row in batch]) for batch in batches]
    runs = []
    for _ in range(RUNS):
        client.command("TRUNCATE TABLE raw_insert")
        started = time.perf_counter()
        for batch in batches:
            client.insert("raw_insert", batch, column_names=list(INSERT_COLUMNS))
        rows_s = INSERT_ROWS / (time.perf_counter() - started)
        started = time.perf_counter()
        for table in arrow:
            client.insert_arrow("raw_insert", table)
        runs.append({"chdb_insert_rows_per_s": rows_s,
                     "chdb_insert_arrow_rows_per_s": INSERT_ROWS / (time.perf_counter() - started)})
    return median_of(runs)


def end_to_end_rates(directory: Path) -> dict[str, float]:
    """Simulate-and-publish runs first, while this process holds what a `journeys simulate`
    process holds when it forks its children (its imports): forked from a heap holding
    simulations and the holes they left, the children and this process paid copy-on-write faults
    that the command does not (~20 % more CPU per delivery, measured)."""
    with local_broker() as broker:
        return median_of([simulate_and_publish(broker_settings(broker.bootstrap_servers, directory))
                          for _ in range(RUNS)])


def broker_rates(directory: Path, events: list[TouchpointEventBase]) -> dict[str, float]:
    runs = []
    with local_broker() as broker:
        for _ in range(RUNS):
            settings = broker_settings(broker.bootstrap_servers, directory)
            runs.append({"simulator_publish_events_per_s": publish_rate(settings, events),
                         "kafka_python_consume_events_per_s": kafka_python_rate(settings, len(events)),
                         "aiokafka_consume_events_per_s": asyncio.run(_aiokafka_rate(settings, len(events)))})
    return median_of(runs)


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="journeys-raw-") as directory:
        end_to_end = end_to_end_rates(Path(directory))
        events: list[TouchpointEventBase] = []
        rates: list[float] = []
        for _ in range(RUNS):  # one run's events kept: they are all alike
            events, rate = simulated_events()
            rates.append(rate)
        published = broker_rates(Path(directory), events)
        figures = {"simulate_events_per_s": statistics.median(rates),
                   "simulator_publish_events_per_s": published.pop("simulator_publish_events_per_s"),
                   **end_to_end, **published, **chdb_rates(Path(directory))}
    return {name: round(value, 1) for name, value in figures.items()}


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:40} {value:14,.1f}")
