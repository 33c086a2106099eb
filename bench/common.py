"""Benchmarks' shared plumbing: a broker-backed settings object, worker processes, topic reading.

The benchmarks that run `journeys worker` processes (latency, memory, scaling) start them the way
the embedded stack does (journeys.embedded: same settings as `JOURNEYS_*` variables), on a local
broker of their own, with topic names under a fresh prefix. Nothing here is product code.
"""

from __future__ import annotations

import importlib
import os
import statistics
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from foundation.kafka import common_options, ensure_topics
from foundation.settings import KafkaSettings, Settings, StreamsSettings
from journeys.embedded import child_env
from streams.topology import worker_topics

PARTITIONS = 4
SESSION_TIMEOUT_MS = 2000
HEARTBEAT_INTERVAL_MS = 666
QUIET_POLLS = 5
POLL_MS = 300
STOP_TIMEOUT_S = 30.0
PAGE_BYTES = 4096
REPO = Path(__file__).resolve().parent.parent


def broker_settings(bootstrap_servers: str, data_dir: Path, **streams: Any) -> Settings:
    """Settings on the local broker under a fresh topic prefix, tables in memory, topics created."""
    kafka = KafkaSettings(bootstrap_servers=bootstrap_servers, partitions=PARTITIONS, local_broker=True,
                          topic_prefix=f"b{uuid.uuid4().hex[:8]}.", session_timeout_ms=SESSION_TIMEOUT_MS,
                          heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS)
    settings = Settings(data_dir=data_dir.resolve(), kafka=kafka, log_level="WARNING",
                        streams=StreamsSettings(store="memory://", **streams))
    ensure_topics(settings)
    ensure_topics(settings, worker_topics(settings))
    return settings


def start_worker(settings: Settings, *args: str, runner: Sequence[str] = ("journeys",)) -> subprocess.Popen[bytes]:
    """Start `python -m RUNNER worker ARGS` (RUNNER: `journeys`, or a bench runner wrapping it) with
    these settings, in the data dir, its output in data_dir/worker.log."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = child_env(settings) | {"PYTHONPATH": str(REPO)}
    log = (settings.data_dir / "worker.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", *runner, "worker", *args], env=env, cwd=settings.data_dir,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def migrate_warehouse(settings: Settings) -> None:
    """Create the embedded warehouse's tables with `journeys migrate` (a child: it must not hold chDB here)."""
    subprocess.run([sys.executable, "-m", "journeys", "migrate"], env=child_env(settings), cwd=settings.data_dir,
                   check=True, capture_output=True, timeout=STOP_TIMEOUT_S * 4)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ask the process to stop (SIGTERM), kill it if it does not within STOP_TIMEOUT_S."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def read_topics(settings: Settings, names: Sequence[str]) -> list[Any]:
    """Every message of the topics from the beginning, until quiet (manual assignment, no group)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(n, p) for n in names for p in sorted(consumer.partitions_for_topic(n) or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        messages: list[Any] = []
        quiet = 0
        while quiet < QUIET_POLLS:
            batch = [m for ms in consumer.poll(timeout_ms=POLL_MS, max_records=10_000).values() for m in ms]
            messages += batch
            quiet = 0 if batch else quiet + 1
        return messages
    finally:
        consumer.close()


def rss_bytes(pid: int) -> int:
    """Resident set size of a process now (Linux /proc)."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, quiet_s: float = 3.0, busy_cpu_s: float = 0.3, timeout_s: float = 600.0) -> None:
    """Wait until the process used less than `busy_cpu_s` of CPU over `quiet_s` seconds."""
    deadline = time.monotonic() + timeout_s
    before = cpu_s(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = cpu_s(pid)
        if now - before < busy_cpu_s:
            return
        before = now


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` quantile (0..1) by the inclusive method; 0.0 for no values."""
    if len(values) < 2:
        return float(values[0]) if values else 0.0
    return statistics.quantiles(values, n=1000, method="inclusive")[round(share * 1000) - 1]


def median_of(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """The median of each figure over several runs."""
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]}


def run_module(name: str) -> tuple[dict[str, float], str]:
    """Run bench.<name>.run() (in the harness's child process): its figures, or its failure's traceback."""
    try:
        return importlib.import_module(f"bench.{name}").run(), ""
    except Exception:
        return {}, traceback.format_exc(limit=4)
