"""Benchmark of the ClickHouse stage: sink throughput into chDB and funnel latency at scale.

`run() -> dict[str, float]`:
- `sink_rows_per_s`: output records -> rows -> clickhouse-connect inserts into chDB, through the
  WarehouseWriter (dedup tokens included), in batches of SINK_BATCH_RECORDS; each step is 2 rows.
- `sink_decode_rows_per_s`: the same, starting from the JSON bytes read off the topics.
- `funnel_ms_<n>`: median latency of the `funnel` named query over n journeys (the newest
  tenth re-sent with a newer version, some retracted, so FINAL has work to do; `_merged` after
  OPTIMIZE FINAL, the steady state once background merges caught up; `_best` is the fastest run,
  the median being sensitive to other processes on a 2-core machine), e.g. funnel_ms_1m, funnel_ms_10m.
Run `python -m bench.clickhouse_bench [--sizes 1m]` (default 1m,10m: about a minute). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.queries import Filters
from clickhouse.queries import run as run_query
from clickhouse.sink import WarehouseWriter, decode
from foundation.settings import ClickHouseSettings, Settings
from schemas.channels import WEB
from schemas.outputs import STEPS_TOPIC, JourneyStep

SINK_RECORDS = 100_000
SINK_BATCH_RECORDS = 10_000
QUERY_RUNS = 5
DEFAULT_SIZES = (1_000_000, 10_000_000)  # about a minute; `--sizes 1m` for a quick run
PHASES = ("research", "compare", "purchase", "after_sales")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
WEB_EVENT: Any = WEB.model  # the registered model takes the channel's measures

SYNTHETIC_JOURNEYS = """
INSERT INTO journeys
SELECT concat('j-', lower(hex(cityHash64(n)))) AS journey_id,
       concat('cust-', toString(n)) AS customer_id,
       {version:UInt64} AS version,
       {retract:UInt8} AND n % 100 = 0 AS retracted,
       ['family', 'student', 'business', 'unknown'][1 + n % 4] AS segment,
       toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(n % 31536000) AS started_at,
       started_at + toIntervalHour(k * 6) AS last_event_at,
       k + 1 AS events,
       arraySlice(['web', 'email', 'call_centre', 'store'], 1 + n % 2, 1 + n % 3) AS channels,
       length(channels) - 1 AS channel_switches,
       channels[1] AS first_channel,
       mapFromArrays(arraySlice({phases:Array(String)}, 1, k),
                     arrayMap(i -> started_at + toIntervalHour(i * 6), range(k))) AS phase_first_at,
       {phases:Array(String)}[k] AS furthest_phase,
       furthest_phase AS current_phase,
       k >= 3 AS converted,
       ['active', 'stalled', 'closed'][1 + n % 3] AS status,
       n % 3 AS friction_count,
       if(n % 5 = 0, 1 + n % 5, NULL) AS csat_avg,
       last_event_at AS updated_at
FROM (SELECT number AS n, 1 + cityHash64(number, {version:UInt64}) % 4 AS k
      FROM numbers({first:UInt64}, {count:UInt64}))
"""


def bench_settings(directory: Path) -> Settings:
    return Settings(data_dir=directory, clickhouse=ClickHouseSettings(database="bench"))


def steps(count: int) -> list[JourneyStep]:
    """Synthetic web steps, each a distinct event in one of count/5 journeys."""
    return [JourneyStep(customer_id=f"cust-{i // 5}", journey_id=f"j-{i // 5}", step_index=i % 5,
                        phase=PHASES[i % 4], version=i % 5,
                        event=WEB_EVENT(event_id=f"e-{i}", event_time=T0 + timedelta(seconds=i), channel="web",
                                       touchpoint="web.product", event_type="product_view",
                                       identifiers={"anonymous_id": f"a-{i // 5}"},
                                       measures={"dwell_s": i % 120, "path": f"/p/{i % 500}"}))
            for i in range(count)]


def sink_rows_per_s(writer: WarehouseWriter, records: list[JourneyStep]) -> float:
    started, rows = time.perf_counter(), 0
    for i in range(0, len(records), SINK_BATCH_RECORDS):
        rows += writer.write(records[i:i + SINK_BATCH_RECORDS])
    return rows / (time.perf_counter() - started)


def sink_decode_rows_per_s(writer: WarehouseWriter, payloads: list[bytes]) -> float:
    started, rows = time.perf_counter(), 0
    for i in range(0, len(payloads), SINK_BATCH_RECORDS):
        batch = [decode(STEPS_TOPIC, p, "bench", T0) for p in payloads[i:i + SINK_BATCH_RECORDS]]
        rows += writer.write(batch)
    return rows / (time.perf_counter() - started)


def load_journeys(settings: Settings, total: int, already: int) -> None:
    """Grow the journeys table to `total` journeys; the newest tenth re-sent as version 2 (1% of those retracted)."""
    client = connect(settings)
    fresh = total - already
    resent = fresh // 10
    for version, first, count, retract in ((1, already, fresh, 0), (2, total - resent, resent, 1)):
        client.command(SYNTHETIC_JOURNEYS, parameters={"version": version, "first": first, "count": count,
                                                       "retract": retract, "phases": list(PHASES)})


def funnel_ms(settings: Settings) -> tuple[float, float]:
    """Median and best latency of the funnel query (the first run, which warms caches, is left out)."""
    client = connect(settings)
    timings = []
    for _ in range(QUERY_RUNS + 1):
        started = time.perf_counter()
        run_query(client, "funnel", Filters(), PHASES)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings[1:]), min(timings[1:])


def label(size: int) -> str:
    return f"{size // 1_000_000}m" if size % 1_000_000 == 0 else str(size)


def run(sizes: tuple[int, ...] = DEFAULT_SIZES) -> dict[str, float]:
    """Sink throughput and funnel latency at each size, on a fresh embedded warehouse."""
    with tempfile.TemporaryDirectory(prefix="journeys-bench-") as directory:
        settings = bench_settings(Path(directory))
        client = connect(settings)
        migrate(client)
        records = steps(SINK_RECORDS)
        payloads = [r.model_dump_json(serialize_as_any=True).encode() for r in records]
        results: dict[str, float] = {"sink_rows_per_s": round(sink_rows_per_s(WarehouseWriter(client), records)),
                   "sink_decode_rows_per_s": round(sink_decode_rows_per_s(WarehouseWriter(client), payloads))}
        loaded = 0
        for size in sorted(sizes):
            load_journeys(settings, size, loaded)
            loaded = size
            results |= funnel_figures(settings, label(size))
        if sizes:
            connect(settings).command("OPTIMIZE TABLE journeys FINAL")
            results |= funnel_figures(settings, f"{label(loaded)}_merged")
        return results


def funnel_figures(settings: Settings, name: str) -> dict[str, float]:
    median, best = funnel_ms(settings)
    return {f"funnel_ms_{name}": round(median, 1), f"funnel_ms_{name}_best": round(best, 1)}


def _size(text: str) -> int:
    text = text.strip().lower()
    return int(float(text[:-1]) * 1_000_000) if text.endswith("m") else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,10m", help="journey counts for the funnel, e.g. 1m or 1m,10m")
    sizes = tuple(_size(s) for s in parser.parse_args().sizes.split(","))
    for name, value in run(sizes).items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
