"""End-to-end latency, produced -> visible in ClickHouse, at a fixed offered load of 2,000 events/s.

On a local broker of its own, one `journeys worker --sink` process (identity, stitching, friction
and the sink into an embedded chDB warehouse it owns) runs with its sink timed
(bench/latency_worker.py). Simulated events are published paced at OFFERED_EVENTS_PER_S, in
chunks of a tenth of a second, each with `received_time` = the moment it is handed to the
producer. An event's latency is the time from that moment until the first insert of its journey
step into the warehouse returned (the rows are then visible to any query). After a warm-up (the
worker joined its groups and wrote a first batch), WINDOWS windows of WINDOW_S seconds are
measured; p50/p95/p99 (ms) are the medians over the windows (target p95 <= 2,000 ms).
`latency_seen_share` is the share of the measured events whose step reached the warehouse.
Run: python -m bench.latency_bench
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import broker_settings, migrate_warehouse, percentile, start_worker, stop
from foundation.localbroker import local_broker
from producers.publisher import Publisher
from producers.simulator.core import simulate
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map

OFFERED_EVENTS_PER_S = 2000
CHUNKS_PER_S = 10
WINDOWS = 3
WINDOW_S = 12
WARMUP_EVENTS = 2000
CUSTOMERS = 5500  # ~16 events each: enough distinct events for the warm-up and every window
DAYS = 90
SEED = 7
START = datetime(2026, 1, 5, tzinfo=UTC)
WARMUP_TIMEOUT_S = 90.0
DRAIN_TIMEOUT_S = 60.0
RUNNER = ("bench.latency_worker",)


def read_timings(path: Path) -> dict[str, float]:
    """Per event id, the latency (ms) of its step's first insert."""
    first: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            event_id, received, inserted = line.split()
            first.setdefault(event_id, float(inserted) - float(received))
    return first


def stamped(events: list[TouchpointEventBase]) -> list[TouchpointEventBase]:
    now = datetime.now(UTC)
    return [e.model_copy(update={"received_time": now}) for e in events]


def publish_paced(publisher: Publisher, events: list[TouchpointEventBase]) -> None:
    """Publish in chunks of OFFERED_EVENTS_PER_S / CHUNKS_PER_S, one chunk per tick of the clock."""
    size = OFFERED_EVENTS_PER_S // CHUNKS_PER_S
    started = time.monotonic()
    for tick, i in enumerate(range(0, len(events), size)):
        time.sleep(max(0.0, started + tick / CHUNKS_PER_S - time.monotonic()))
        publisher.publish_many(stamped(events[i:i + size]))
    publisher.flush()


def wait_for(path: Path, ids: set[str], timeout_s: float) -> dict[str, float]:
    """The timings, once every id in `ids` has one (or the timeout passed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        timings = read_timings(path)
        if ids <= timings.keys() or time.monotonic() > deadline:
            return timings
        time.sleep(0.5)


def warm_up(timings: Path, log: Path) -> None:
    """Wait for the worker's first insert into the warehouse (groups joined, tables ready)."""
    deadline = time.monotonic() + WARMUP_TIMEOUT_S
    while not read_timings(timings):
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"the worker wrote nothing in {WARMUP_TIMEOUT_S} s; its log ends:\n{tail}")
        time.sleep(0.5)


def window_figures(timings: dict[str, float], ids: list[str]) -> dict[str, float]:
    latencies = sorted(timings[i] for i in ids if i in timings)
    return {"latency_ms_p50": percentile(latencies, 0.50), "latency_ms_p95": percentile(latencies, 0.95),
            "latency_ms_p99": percentile(latencies, 0.99), "latency_seen_share": len(latencies) / len(ids)}


def measure(directory: Path, events: list[TouchpointEventBase]) -> list[dict[str, float]]:
    per_window = OFFERED_EVENTS_PER_S * WINDOW_S
    timings_path = directory / "latency.txt"
    with local_broker() as broker:
        settings = broker_settings(broker.bootstrap_servers, directory)
        migrate_warehouse(settings)
        worker = start_worker(settings, "--sink", runner=(*RUNNER, str(timings_path)))
        try:
            with Publisher.connect(settings, source="bench-latency") as publisher:
                publisher.publish_many(stamped(events[:WARMUP_EVENTS]))
                publisher.flush()
                warm_up(timings_path, settings.data_dir / "worker.log")
                windows = [events[WARMUP_EVENTS + w * per_window:WARMUP_EVENTS + (w + 1) * per_window]
                           for w in range(WINDOWS)]
                for window in windows:
                    publish_paced(publisher, window)
            timings = wait_for(timings_path, {e.event_id for w in windows for e in w}, DRAIN_TIMEOUT_S)
        finally:
            stop(worker)
    return [window_figures(timings, [e.event_id for e in window]) for window in windows]


def run() -> dict[str, float]:
    simulation = simulate(CUSTOMERS, SEED, DAYS, START, load_journey_map(), b"bench-secret")
    events = simulation.events()
    needed = WARMUP_EVENTS + WINDOWS * WINDOW_S * OFFERED_EVENTS_PER_S
    if len(events) < needed:
        raise RuntimeError(f"the simulation has {len(events)} events, the benchmark needs {needed}")
    with tempfile.TemporaryDirectory(prefix="journeys-latency-") as directory:
        windows = measure(Path(directory), events)
    figures = {name: round(statistics.median(w[name] for w in windows), 4 if name.endswith("share") else 1)
               for name in windows[0]}
    return figures | {"latency_offered_events_per_s": float(OFFERED_EVENTS_PER_S)}


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:32} {value:12,.4g}")
