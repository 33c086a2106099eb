"""`journeys sink` as its own process: it owns its embedded warehouse, commits only what it wrote.

The subprocess gets its own data dir (chDB opens one path per process, and this test process holds
the session's path), so its results are read back with `journeys query` once it has stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from kafka import KafkaAdminClient

from clickhouse.agents import SINK_APP_NAME
from clickhouse.sink import SINK_TOPICS
from foundation.kafka import common_options, topic
from foundation.settings import Settings
from tests.clickhouse import scenario as s
from tests.clickhouse.test_sink import GARBAGE, publish

JOURNEYS = str(Path(sys.executable).with_name("journeys"))
GIVE_UP_S = 120.0  # a guard against a hung sink, not a speed assertion
POLL_S = 0.5


def committed(settings: Settings, group: str) -> int:
    admin = KafkaAdminClient(**common_options(settings))
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
        outputs = {topic(settings, name) for name in SINK_TOPICS}
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic in outputs and meta.offset > 0)
    finally:
        admin.close()


def test_sink_command_commits_after_writing_and_its_warehouse_answers(settings: Settings, tmp_path: Path) -> None:
    sent = publish(settings, s.RECORDS, [GARBAGE])
    env = {**os.environ, "JOURNEYS_DATA_DIR": str(tmp_path / "own"), "JOURNEYS_CLICKHOUSE__DSN": "",
           "JOURNEYS_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
           "JOURNEYS_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "JOURNEYS_KAFKA__SESSION_TIMEOUT_MS": "3000", "JOURNEYS_KAFKA__HEARTBEAT_INTERVAL_MS": "1000"}
    sink = subprocess.Popen([JOURNEYS, "sink", "--loglevel", "warning"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + GIVE_UP_S
        while committed(settings, settings.kafka.topic_prefix + SINK_APP_NAME) < sent:
            assert sink.poll() is None and time.monotonic() < deadline
            time.sleep(POLL_S)
    finally:
        sink.send_signal(signal.SIGINT)
        sink.wait(timeout=60)
    funnel = subprocess.run([JOURNEYS, "query", "funnel", "--format", "json"], env=env, capture_output=True,
                            check=True).stdout
    assert [(r["phase"], r["journeys"], r["dropped_off"]) for r in orjson.loads(funnel)] == [
        (phase, journeys, dropped) for phase, journeys, _, _, dropped, _ in s.FUNNEL]
