"""`make bench`: run every benchmark on this machine and write bench/RESULTS.md.

Each benchmark module exposes `run() -> dict[str, float]` and reports medians of several runs.
Each runs in a fresh process of its own (embedded chDB opens one data path per process, and one
module's memory and threads must not weigh on the next). Figures are written beside the machine
they were measured on, with its load average (other work on the machine moves them); they are never
test assertions. `python -m bench [module ...]` runs only those; docs/benchmarks.md explains each figure.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from bench.common import run_module

MODULES = ("raw_limits", "contract_bench", "producers_bench", "core_bench", "streams_bench", "clickhouse_bench", "queries_bench",
           "analyses_bench", "latency_bench", "memory_bench", "scaling_bench")
TARGETS = {
    "simulate_and_publish_events_per_s": (">=", 30_000),
    "contract_parse_validate_events_per_s": (">=", 50_000),
    "publish_many_events_per_s": (">=", 30_000),
    "pipeline_share_of_raw_consume": (">=", 0.3),
    "latency_ms_p95": ("<=", 2000),
    "core_state_bytes_per_customer": ("<=", 2048),
    "query_ms_funnel_10m": ("<=", 500),
    "collector_events_per_s": (">=", 5_000),
    "pipeline_events_per_s": (">=", 10_000),
    "state_bytes_per_customer": ("<=", 2048),
    "sink_rows_per_s": (">=", 100_000),
    "funnel_ms_10m": ("<=", 500),
    "analysis_ms_step_funnel_13w_10m": ("<=", 500),
    "analysis_ms_paths_13w_10m": ("<=", 500),
    "analysis_ms_incidents_13w_10m": ("<=", 2000),
    "analysis_ms_step_funnel_year_10m": ("<=", 500),
    "analysis_ms_paths_year_10m": ("<=", 500),
    "analysis_ms_incidents_year_10m": ("<=", 2000),
    "analysis_ms_step_funnel_13w_10m_settled": ("<=", 500),
    "analysis_ms_paths_13w_10m_settled": ("<=", 500),
    "analysis_ms_incidents_13w_10m_settled": ("<=", 2000),
    "analysis_ms_step_funnel_year_10m_settled": ("<=", 500),
    "analysis_ms_paths_year_10m_settled": ("<=", 500),
    "analysis_ms_incidents_year_10m_settled": ("<=", 2000),
}
RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    memory_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")), 0) if Path("/proc/meminfo").exists() else 0
    return [f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- cpu: {cpu}, {os.cpu_count()} cores; memory {memory_kb / 1024 / 1024:.1f} GiB",
            f"- {platform.platform()}; Python {platform.python_version()}"]


def verdict(name: str, value: float) -> str:
    if name not in TARGETS:
        return ""
    op, target = TARGETS[name]
    met = value >= target if op == ">=" else value <= target
    return f"{op} {target:,} {'met' if met else 'NOT met'}"


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def run_isolated(name: str) -> tuple[dict[str, float], str]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_module, name).result()


def derived(figures: dict[str, float]) -> dict[str, float]:
    """Figures that combine modules: the pipeline's rate as a share of the raw aiokafka consume rate."""
    if "pipeline_events_per_s" in figures and figures.get("aiokafka_consume_events_per_s"):
        return {"pipeline_share_of_raw_consume": round(
            figures["pipeline_events_per_s"] / figures["aiokafka_consume_events_per_s"], 3)}
    return {}


GENERATED_LAST = "## Runs"  # the last section this command writes; the sections after it are people's


def written_by_hand(previous: str) -> str:
    """The sections of an earlier RESULTS.md that people wrote (interleaved comparisons, issue
    figures), kept under the new run's tables: they used to be dropped by every `make bench`."""
    sections = previous.split("\n## ")
    kept = [section for section in sections[1:] if not ("## " + section).startswith(GENERATED_LAST)]
    return "".join("\n## " + section.rstrip("\n") + "\n" for section in kept)


def main(selected: list[str]) -> int:
    rows: list[str] = []
    failures: list[str] = []
    runs: list[str] = []
    everything: dict[str, float] = {}
    started_load = load_average()
    for name in selected or MODULES:
        load, started = load_average(), time.monotonic()
        figures, failure = run_isolated(name)
        runs.append(f"- {name}: {time.monotonic() - started:,.0f} s, load average at its start {load}")
        if failure:
            failures.append(f"- {name}: failed\n\n```\n{failure}```")
        everything |= figures
        rows += [f"| {name} | {key} | {value:,.1f} | {verdict(key, value)} |" for key, value in figures.items()]
    rows += [f"| (derived) | {key} | {value:,.3f} | {verdict(key, value)} |" for key, value in derived(everything).items()]
    loads = [f"- load average (1/5/15 min) at start {started_load}, at end {load_average()}"]
    text = "\n".join(["# Benchmark results", "", *machine(), *loads, "", "| benchmark | figure | value | target |",
                      "|---|---|---|---|", *rows, "", GENERATED_LAST, "", *runs, "", *failures, ""])
    RESULTS.write_text(text + written_by_hand(RESULTS.read_text() if RESULTS.exists() else ""))
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
