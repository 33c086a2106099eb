"""Scaling: the stream processor's throughput with one and with two `journeys worker` processes.

On a fresh local broker per run, a seeded simulation is published to the raw topics (4 partitions
each); then WORKERS `journeys worker --exit-when-idle` processes (one consumer group, tables in
memory, each its own data dir) are started together and run until idle. Throughput is the number
of distinct events stitched divided by the span between the first and the last step record
published (Kafka timestamps): start-up and the first group join are left out, a rebalance while
steps flow is counted. `scaling_events_per_s_<n>w` are medians of RUNS runs; `scaling_speedup_2w`
their ratio. Both workers share this machine's cores with the broker, so on 2 cores the speedup is
bounded well below 2. Run: python -m bench.scaling_bench
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.common import broker_settings, median_of, read_topics, start_worker, stop
from foundation.kafka import topic
from foundation.localbroker import local_broker
from foundation.settings import Settings
from producers.publisher import Publisher
from producers.simulator.arrival import Delivery
from producers.simulator.core import simulate
from producers.simulator.run import publish
from schemas.journeymap import load_journey_map
from schemas.outputs import STEPS_TOPIC

RUNS = 2
WORKER_COUNTS = (1, 2)
CUSTOMERS = 3000
DAYS = 90
SEED = 4243
START = datetime(2026, 1, 5, tzinfo=UTC)
IDLE_EXIT_S = 5
WORKER_TIMEOUT_S = 900


def steps_rate(settings: Settings) -> float:
    """Distinct events stitched per second between the first and the last step record."""
    steps = read_topics(settings, [topic(settings, STEPS_TOPIC)])
    stamps = sorted(m.timestamp for m in steps)
    events = len({orjson.loads(m.value)["event"]["event_id"] for m in steps})
    return events / max((stamps[-1] - stamps[0]) / 1000, 1e-3) if stamps else 0.0


def one_run(directory: Path, deliveries: list[Delivery], workers: int) -> float:
    with local_broker() as broker:
        settings = broker_settings(broker.bootstrap_servers, directory, standby_replicas=0)
        with Publisher.connect(settings, source="bench-scaling") as publisher:
            publish(deliveries, publisher, show_progress=False)
        processes = [start_worker(settings.model_copy(update={"data_dir": directory / f"worker{i}"}),
                                  "--exit-when-idle", str(IDLE_EXIT_S)) for i in range(workers)]
        try:
            for process in processes:
                process.wait(WORKER_TIMEOUT_S)
        finally:
            for process in processes:
                stop(process)
        return steps_rate(settings)


def run() -> dict[str, float]:
    deliveries = simulate(CUSTOMERS, SEED, DAYS, START, load_journey_map(), b"bench-secret").deliveries
    runs = []
    for _ in range(RUNS):
        figures = {}
        for workers in WORKER_COUNTS:
            with tempfile.TemporaryDirectory(prefix="journeys-scaling-") as directory:
                figures[f"scaling_events_per_s_{workers}w"] = one_run(Path(directory), deliveries, workers)
        runs.append(figures)
    result = median_of(runs)
    result["scaling_speedup_2w"] = result["scaling_events_per_s_2w"] / max(result["scaling_events_per_s_1w"], 1e-9)
    result["scaling_events"] = float(len(deliveries))
    return {name: round(value, 2) for name, value in result.items()}


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:32} {value:12,.2f}")
