"""Memory: the worker's resident size per 100,000 active customers, and the core's state per customer.

On a local broker of its own, one `journeys worker` process (tables in memory, no sink) starts;
once it joined its groups and went idle its resident size (RSS, /proc) is the baseline. Then a
seeded simulation of CUSTOMERS customers is published; when the worker has processed it (its CPU
went quiet) the RSS is read again. `worker_rss_mib_per_100k_customers` is the growth scaled to
100,000 customers (everything the process keeps per customer: table values, identity graph,
Python objects and caches, allocator slack); `worker_rss_mib_baseline` the start-up size. Then
`core_state_bytes_per_customer` is the mean size of each active customer's newest encoded state in
the state table's changelog (what streams.codecs.encode_state stores; target <= 2 KiB).
Medians of RUNS runs. Run: python -m bench.memory_bench
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import broker_settings, median_of, read_topics, rss_bytes, start_worker, stop, wait_until_idle
from foundation.localbroker import local_broker
from foundation.settings import Settings
from producers.publisher import Publisher
from producers.simulator.arrival import Delivery
from producers.simulator.core import simulate
from producers.simulator.run import publish
from schemas.journeymap import load_journey_map
from streams.codecs import decode_state as decode
from streams.topology import app_id

RUNS = 2
CUSTOMERS = 6000
DAYS = 90
SEED = 31
START = datetime(2026, 1, 5, tzinfo=UTC)
STARTUP_S = 8.0
PER_CUSTOMERS = 100_000
MIB = 1024 * 1024


def state_bytes(settings: Settings) -> float:
    """Mean newest encoded state per customer that still holds events (merged-away ones are tombstones)."""
    newest = {m.key: m.value for m in read_topics(settings, [f"{app_id(settings)}-customer-state-changelog"])}
    sizes = [len(v) for v in newest.values() if v and holds_events(v)]
    return sum(sizes) / max(len(sizes), 1)


def holds_events(blob: bytes) -> bool:
    try:
        return bool(decode(blob).events)
    except Exception:  # a state written by a worker whose encoding differs from this checkout's
        return True


def one_run(directory: Path, simulation_deliveries: list[Delivery]) -> dict[str, float]:
    with local_broker() as broker:
        settings = broker_settings(broker.bootstrap_servers, directory)
        worker = start_worker(settings)
        try:
            time.sleep(STARTUP_S)
            wait_until_idle(worker.pid)
            baseline = rss_bytes(worker.pid)
            with Publisher.connect(settings, source="bench-memory") as publisher:
                publish(simulation_deliveries, publisher, show_progress=False)
            wait_until_idle(worker.pid)
            grown = rss_bytes(worker.pid) - baseline
        finally:
            stop(worker)
        return {"worker_rss_mib_baseline": baseline / MIB,
                "worker_rss_mib_per_100k_customers": grown / MIB * PER_CUSTOMERS / CUSTOMERS,
                "core_state_bytes_per_customer": state_bytes(settings)}


def run() -> dict[str, float]:
    simulation = simulate(CUSTOMERS, SEED, DAYS, START, load_journey_map(), b"bench-secret")
    runs = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory(prefix="journeys-memory-") as directory:
            runs.append(one_run(Path(directory), simulation.deliveries))
    figures = median_of(runs) | {"memory_customers": float(CUSTOMERS),
                                 "memory_events": float(len(simulation.deliveries))}
    return {name: round(value, 1) for name, value in figures.items()}


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:40} {value:12,.1f}")
