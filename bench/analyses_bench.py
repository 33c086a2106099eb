"""Analyses speed: step funnel, paths, loops and incidents at 10 million touchpoints.

The warehouse is the query benchmark's (bench/queries_bench.py: a year of generated touchpoints
with their journeys, frictions and context dimensions, filled by ClickHouse itself). Each analysis
runs as `journeys funnel / paths / incidents` run it: the named analysis with its bound
parameters, and for incidents the counting SQL plus the pure judging in Python (weekly periods
and the baseline's four weeks of warm-up before the window, everyone plus device_type and
agent_team), over the whole year and over a quarter (13 weeks). `analysis_ms_<name>_<window>_<size>`
is the median latency of RUNS runs after one warm-up run; targets at 10M: step funnel and paths
<= 500 ms, incidents <= 2 s. Each is measured twice: on the warehouse as it is (just generated:
each month in the several parts the load left, so every FINAL read merges them), then settled
(`..._settled`): each versioned table's parts merged, which the warehouse does by itself to
parts older than settings.clickhouse.settle_after_s (an hour), here at once with OPTIMIZE FINAL.
Run: python -m bench.analyses_bench [--sizes 1m] [--keep DIR]
(--keep: generate the warehouse in DIR once and reuse it on later runs; it is left settled)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from bench.queries_bench import grow, label
from clickhouse.analyses.counting import FAMILIES
from clickhouse.analyses.incidents import IncidentQuery, find_incidents
from clickhouse.analyses.named import Extra, run_analysis
from clickhouse.client import connect
from clickhouse.migrate import VERSIONED_TABLES, migrate
from clickhouse.queries import Filters
from foundation.settings import ClickHouseSettings, Settings

RUNS = 3
DEFAULT_SIZES = (10_000_000,)
# The whole year (the worst case), and a quarter: 13 weeks, as an analyst looks at weeks.
WINDOWS = {"year": (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
           "13w": (datetime(2024, 9, 30, tzinfo=UTC), datetime(2024, 12, 30, tzinfo=UTC))}
FUNNEL = Extra(steps=("web.product:product_view", "web.compare:compare", "web.checkout:checkout_step"),
               within_s=7 * 86_400, period="week", by="device_type")
PATHS = Extra(anchor="web.product:product_view", depth=3, by="device_type")
DIMENSIONS = ("device_type", "agent_team")


def analyses(client: Client, window: str) -> dict[str, Callable[[], Any]]:
    """Each benchmarked analysis over `window` as a call returning its rows."""
    start, end = WINDOWS[window]
    filters = Filters(start=start, end=end, limit=20)
    incidents = IncidentQuery(start=start, end=end, period="week", dimensions=DIMENSIONS)
    everything = IncidentQuery(start=start, end=end, period="week", dimensions=DIMENSIONS, families=FAMILIES)
    return {
        f"step_funnel_{window}": lambda: run_analysis(client, "step_funnel", filters, FUNNEL).rows,
        f"paths_{window}": lambda: run_analysis(client, "paths", filters, PATHS).rows,
        f"loops_{window}": lambda: run_analysis(client, "loops", filters, PATHS).rows,
        f"incidents_{window}": lambda: find_incidents(client, incidents) or ["none found: still timed"],
        f"incidents_with_volume_{window}": lambda: find_incidents(client, everything) or ["none found: still timed"],
    }


def analysis_ms(call: Callable[[], Any], name: str) -> float:
    """Median latency of one analysis over RUNS runs, after a warm-up run."""
    timings = []
    for _ in range(RUNS + 1):
        started = time.perf_counter()
        rows = call()
        timings.append((time.perf_counter() - started) * 1000)
    if not rows:
        raise RuntimeError(f"{name} returned no rows: the generated data does not exercise it")
    return statistics.median(timings[1:])


def run(sizes: tuple[int, ...] = DEFAULT_SIZES, keep: Path | None = None) -> dict[str, float]:
    """Each analysis's median latency at each size; a warehouse kept in `keep` is reused (grown as needed)."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="journeys-analyses-") as directory:
        client = connect(Settings(data_dir=keep or Path(directory), clickhouse=ClickHouseSettings(database="analyses")))
        migrate(client)
        loaded = int(client.query("SELECT count() FROM touchpoints").result_rows[0][0])
        for size in sorted(sizes):
            started = time.perf_counter()
            if size > loaded:
                grow(client, size, loaded)
                loaded = size
            figures[f"analyses_load_s_{label(size)}"] = round(time.perf_counter() - started, 1)
            for state in ("", "_settled"):
                if state:
                    started = time.perf_counter()
                    for table in VERSIONED_TABLES:
                        client.command(f"OPTIMIZE TABLE {table} FINAL")
                    figures[f"analyses_settle_s_{label(size)}"] = round(time.perf_counter() - started, 1)
                for window in WINDOWS:
                    for name, call in analyses(client, window).items():
                        figures[f"analysis_ms_{name}_{label(size)}{state}"] = round(analysis_ms(call, name), 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10m", help="touchpoint counts, e.g. 1m or 1m,10m")
    parser.add_argument("--keep", type=Path, help="a data dir to keep the warehouse in and reuse (generating 10M takes minutes)")
    args = parser.parse_args()
    sizes = tuple(int(float(s.strip()[:-1]) * 1_000_000) if s.strip().endswith("m") else int(s)
                  for s in args.sizes.split(","))
    for name, value in run(sizes, args.keep).items():
        print(f"{name:48} {value:12,.1f}")


if __name__ == "__main__":
    main()
