"""`make bench`: run every benchmark on this machine and write bench/RESULTS.md.

Each benchmark module exposes `run() -> dict[str, float]` and reports medians of several runs.
Figures are written beside the machine they were measured on; they are never test assertions.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

MODULES = ("contract_bench", "producers_bench", "streams_bench", "clickhouse_bench")
TARGETS = {
    "contract_parse_validate_events_per_s": (">=", 50_000),
    "publish_many_events_per_s": (">=", 30_000),
    "collector_events_per_s": (">=", 5_000),
    "pipeline_events_per_s": (">=", 10_000),
    "state_bytes_per_customer": ("<=", 2048),
    "sink_rows_per_s": (">=", 100_000),
    "funnel_ms_10m": ("<=", 500),
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


def main(selected: list[str]) -> int:
    rows, failures = [], []
    for name in selected or MODULES:
        try:
            module = importlib.import_module(f"bench.{name}")
            figures = module.run()
        except Exception:
            failures.append(f"- {name}: failed\n\n```\n{traceback.format_exc(limit=3)}```")
            continue
        rows += [f"| {name} | {key} | {value:,.1f} | {verdict(key, value)} |" for key, value in figures.items()]
    text = "\n".join(["# Benchmark results", "", *machine(), "", "| benchmark | figure | value | target |",
                      "|---|---|---|---|", *rows, "", *failures, ""])
    RESULTS.write_text(text)
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
