"""A worker whose stored marks are beyond its input's end refuses loudly, it does not skip.

The worker runs on a broker of its own and keeps its state in RocksDB under the data dir; then the
broker is replaced by an empty one (as when the embedded broker restarts, or a topic is deleted
and made again) and fewer events arrive. The restored marks say more work was applied than the
new log holds: the worker must stop with a non-zero exit code and one clear line naming the topic,
partition, mark and end, no traceback, instead of skipping the new work as "handled before".
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from foundation.kafka import ensure_topics, topic
from foundation.localbroker import local_broker
from foundation.settings import KafkaSettings, Settings, StreamsSettings
from journeys.embedded import child_env
from producers.publisher import Publisher
from producers.simulator.core import simulate
from producers.simulator.run import publish
from schemas.journeymap import load_journey_map
from streams.topology import IDENTITY_WORK_TOPIC, worker_topics
from tests.conftest import FAST_GROUP_JOIN

SEED = 20261204
START = datetime(2026, 2, 2, tzinfo=UTC)
DAYS = 30
FIRST_CUSTOMERS, SECOND_CUSTOMERS = 120, 15
SMALL_BATCH_EVENTS = 50  # the first run sends many identity work messages: its mark is far along
IDLE_EXIT_S = 3
WORKER_TIMEOUT_S = 150


def settings_on(bootstrap: str, data_dir: Path, batch_events: int) -> Settings:
    return Settings(data_dir=data_dir, log_level="WARNING",
                    kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix="reset.", partitions=2,
                                        local_broker=True, **FAST_GROUP_JOIN),
                    streams=StreamsSettings(store="rocksdb://", batch_events=batch_events, check_processes=0))


def publish_customers(settings: Settings, customers: int) -> None:
    ensure_topics(settings)
    ensure_topics(settings, worker_topics(settings))
    simulation = simulate(customers, SEED, DAYS, START, load_journey_map(), b"reset-secret")
    with Publisher.connect(settings, source="reset") as publisher:
        publish(simulation.deliveries, publisher, show_progress=False)


def run_worker(settings: Settings, log: Path) -> tuple[int, str]:
    journeys = str(Path(sys.executable).with_name("journeys"))
    with log.open("wb") as out:
        worker = subprocess.Popen([journeys, "worker", "--exit-when-idle", str(IDLE_EXIT_S)], env=child_env(settings),
                                  cwd=settings.data_dir, stdout=out, stderr=subprocess.STDOUT)
        try:
            code = worker.wait(WORKER_TIMEOUT_S)
        finally:
            if worker.poll() is None:
                worker.kill()
    return code, log.read_text()


def test_a_worker_given_marks_beyond_its_partitions_end_refuses_loudly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with local_broker(log_path=tmp_path / "first-broker.log") as first:
        settings = settings_on(first.bootstrap_servers, data, SMALL_BATCH_EVENTS)
        publish_customers(settings, FIRST_CUSTOMERS)
        code, output = run_worker(settings, tmp_path / "first-worker.log")
        assert code == 0, output[-3000:]
    with local_broker(log_path=tmp_path / "second-broker.log") as second:  # empty: the log was reset
        settings = settings_on(second.bootstrap_servers, data, 10_000)
        publish_customers(settings, SECOND_CUSTOMERS)
        code, output = run_worker(settings, tmp_path / "second-worker.log")
    assert code != 0, output[-3000:]
    work = topic(settings, IDENTITY_WORK_TOPIC)
    found = re.search(rf"{re.escape(work)}/0: this stage's state has applied offsets up to (\d+) \(mark (\d+)\), "
                      r"but the partition ends at offset (\d+)", output)
    assert found, output[-3000:]
    last, mark, end = (int(n) for n in found.groups())
    assert last == mark - 1 and end < mark
    assert "Traceback" not in output, output[-3000:]
    assert "handled before: skipped" not in output
