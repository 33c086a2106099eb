"""Benchmark of the streams stage: one worker's end-to-end rate through Kafka, and its state size.

On a broker of its own (the local one), a seeded simulation is published to the raw topics; then
(1) kafka-python reads every raw message and json.loads it (the raw consume rate, the ceiling to
compare with), and (2) one `journeys worker` process runs until idle. Its rate is the events
stitched divided by the span between the first and the last step record it published (Kafka
timestamps), so worker start-up and group joins are not counted. State bytes per active customer
are the newest value per customer in the state table's changelog; the worker's CPU time per event
includes its start-up and idle wait, so it is an upper bound that does not depend on other load; the broker's
CPU time per event is taken over the worker's run (the broker runs on the same cores: on a
machine with two, worker and broker share them). Tables are kept in memory here
(RocksDB, the default outside tests, measured ~20 % slower). On a shared machine one run's rate
moves by a quarter from the next: the figures are medians of RUNS runs, each on a broker of its
own. A run whose steps miss any of the simulation's distinct valid events fails the bench.
Run: python -m bench.streams_bench
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.common import POLL_MS, QUIET_POLLS, broker_settings, cpu_s, median_of, read_topics
from foundation.kafka import raw_topics, topic
from foundation.localbroker import local_broker
from foundation.marks import is_mark
from foundation.settings import Settings
from journeys.embedded import child_env
from producers.publisher import Publisher
from producers.simulator.core import Simulation, simulate
from producers.simulator.run import publish
from schemas.journeymap import load_journey_map
from schemas.outputs import STEPS_TOPIC
from streams.codecs import decode_state as decode
from streams.topology import app_id

CUSTOMERS = 4000  # ~63k events: a run of ~12 s; at half that, runs varied by ±30 %
DAYS = 90
SEED = 4242
START = datetime(2026, 1, 5, tzinfo=UTC)
IDLE_EXIT_S = 3
WORKER_TIMEOUT_S = 900
RUNS = 3


def raw_consume_rate(settings: Settings) -> float:
    started = time.perf_counter()
    messages = read_topics(settings, raw_topics(settings))
    for m in messages:
        orjson.loads(m.value)
    elapsed = time.perf_counter() - started - QUIET_POLLS * POLL_MS / 1000
    return len(messages) / elapsed


def run_worker(settings: Settings) -> float:
    """Run one worker until idle; returns the CPU seconds it used (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = child_env(settings)  # tables in memory, warnings only (bench.common.broker_settings)
    journeys = str(Path(sys.executable).with_name("journeys"))
    subprocess.run([journeys, "worker", "--exit-when-idle", str(IDLE_EXIT_S)], env=env, cwd=settings.data_dir,
                   check=True, timeout=WORKER_TIMEOUT_S)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def worker_rate(settings: Settings) -> tuple[float, int]:
    steps = read_topics(settings, [topic(settings, STEPS_TOPIC)])
    stamps = sorted(m.timestamp for m in steps)
    events = len({orjson.loads(m.value)["event"]["event_id"] for m in steps})
    return events / max((stamps[-1] - stamps[0]) / 1000, 1e-3), events


def state_bytes(settings: Settings) -> float:
    changelog = f"{app_id(settings)}-customer-state-changelog"
    newest = {m.key: m.value for m in read_topics(settings, [changelog])}
    # skip merged-away tombstones and the stage's progress marks (foundation.marks)
    sizes = [len(v) for k, v in newest.items() if v and not is_mark(k or b"") and decode(v).events]
    return sum(sizes) / max(len(sizes), 1)


def run() -> dict[str, float]:
    simulation = simulate(CUSTOMERS, SEED, DAYS, START, load_journey_map(), b"bench-secret")
    return median_of([one_run(simulation) for _ in range(RUNS)])


def one_run(simulation: Simulation) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data, local_broker() as broker:
        settings = broker_settings(broker.bootstrap_servers, Path(data))
        with Publisher.connect(settings, source="bench") as publisher:
            publish(simulation.deliveries, publisher, show_progress=False)
        raw_rate = raw_consume_rate(settings)
        broker_before = cpu_s(broker.process.pid)
        worker_cpu_s = run_worker(settings)
        broker_cpu_s = cpu_s(broker.process.pid) - broker_before
        rate, events = worker_rate(settings)
        expected = len(simulation.events())
        if events != expected:  # a fast run that lost events measures nothing
            raise RuntimeError(f"the worker stitched {events:,} distinct events of the {expected:,} published")
        return {"pipeline_events_per_s": rate, "raw_consume_events_per_s": raw_rate,
                "pipeline_to_raw_percent": 100 * rate / raw_rate, "worker_cpu_us_per_event": worker_cpu_s / max(events, 1) * 1e6,
                "broker_cpu_us_per_event": broker_cpu_s / max(events, 1) * 1e6,
                "state_bytes_per_customer": state_bytes(settings), "pipeline_events": float(events)}


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:32} {value:12,.1f}")
