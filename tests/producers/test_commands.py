"""The stage's operator commands: `journeys broker` and `journeys topics create`."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from kafka import KafkaAdminClient

from foundation.kafka import topic_specs
from foundation.settings import Settings
from journeys.cli import main

START_TIMEOUT_S = 30


def test_topics_create_is_idempotent(settings: Settings) -> None:
    env = {"JOURNEYS_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
           "JOURNEYS_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix}
    first = CliRunner().invoke(main, ["topics", "create"], env=env)
    second = CliRunner().invoke(main, ["topics", "create"], env=env)
    specs = topic_specs(settings)
    assert first.exit_code == 0 and f"{len(specs)} created, 0 already existed" in first.output
    assert second.exit_code == 0 and f"0 created, {len(specs)} already existed" in second.output
    assert f"{settings.kafka.topic_prefix}journeys.state  partitions=4 cleanup=compact" in first.output
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        assert {s.name for s in specs} <= set(admin.list_topics())
    finally:
        admin.close()


def test_the_broker_command_serves_until_sigterm(tmp_path: Path) -> None:
    args = ["broker", "--port", "0", "--log-file", str(tmp_path / "b.log")]
    process = subprocess.Popen([sys.executable, "-c", "from journeys.cli import main; main()", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("local broker ready: bootstrap servers 127.0.0.1:"), line
        address = line.split()[5]
        admin = KafkaAdminClient(bootstrap_servers=address, request_timeout_ms=5000)
        admin.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(START_TIMEOUT_S) == 0
        assert "stopping the local broker" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
