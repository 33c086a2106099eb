"""Outages: the warehouse refusing writes, and the broker unreachable, while events keep coming.

Warehouse: the sink runs in this process against this test's own warehouse, whose `journeys` and
`journey_steps` tables are renamed away for the outage (inserts fail for real) and back. The sink
retries the same batch with backoff and does not take more from Kafka meanwhile (backpressure:
its consumer's buffer is bounded); afterwards everything lands once, and pipeline_health shows the
sink's errors and retries. Broker: the local broker process is frozen (SIGSTOP keeps its
in-memory data) while the publisher and the worker run, then thawed; both carry on by themselves.
`make test` runs 8 s outages; `make soak` 30 s ones.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.agents import WarehousePort, run_until, sink_app
from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.sink import SINK_TOPICS
from foundation.kafka import topic
from foundation.localbroker import LocalBroker
from foundation.settings import Settings
from tests.reliability import dump as warehouse_view
from tests.reliability import harness as h

SHORT_OUTAGE_S = 8.0
SOAK_OUTAGE_S = 30.0
TABLES_AWAY = ("journeys", "journey_steps")
GIVE_UP_S = 240.0  # a guard against a hung run, not a speed assertion
POLL_S = 0.2


@contextmanager
def own_warehouse(settings: Settings) -> Iterator[Client]:
    client = connect(settings)
    migrate(client)
    try:
        yield client
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse.database}`")


def run_sink_through_outage(settings: Settings, client: Client, messages: int, outage_s: float) -> tuple[WarehousePort, int]:
    """Run the sink here with its tables renamed away for outage_s; returns its port and the records
    it had written when the tables came back."""
    app, port = sink_app(settings, "journeys-sink-outage")
    for name in TABLES_AWAY:
        client.command(f"RENAME TABLE {name} TO {name}_away")
    clock = time.monotonic
    started, during_outage = clock(), [-1]

    async def done() -> bool:
        if during_outage[0] < 0 and clock() - started >= outage_s:
            during_outage[0] = port.records_written
            for name in TABLES_AWAY:
                client.command(f"RENAME TABLE {name}_away TO {name}")
        assert clock() - started < GIVE_UP_S, f"sink wrote {port.records_written} of {messages}"
        return during_outage[0] >= 0 and port.records_written >= messages

    asyncio.run(run_until(app, done))
    return port, during_outage[0]


def warehouse_outage(settings: Settings, tmp_path: Path, customers: int, outage_s: float) -> None:
    simulation = h.simulation_of(customers, seed=8100)
    local = h.pipeline_settings(settings, tmp_path).model_copy(update={"clickhouse": settings.clickhouse})
    h.prepare_topics(local)
    with h.publishing(local, simulation, rate=None):
        pass
    h.run_until_idle(local, sink=False)
    messages = sum(h.count_records(local, topic(local, name)) for name in SINK_TOPICS)
    with own_warehouse(local) as client:
        port, written_in_outage = run_sink_through_outage(local, client, messages, outage_s)
        view = warehouse_view.view(client)
    assert written_in_outage < messages  # held back while the warehouse failed (the rest came after)
    h.assert_warehouse_matches_truth(view, simulation)
    health = view["health"]  # the outage, as operators see it in pipeline_health
    assert health["sink_errors"] >= 2 and health["sink_retries"] == health["sink_errors"]
    assert any(name in health["sink_note"] for name in TABLES_AWAY) and port.health.flushes >= 1


def test_the_sink_rides_out_a_warehouse_outage(settings: Settings, tmp_path: Path) -> None:
    warehouse_outage(settings, tmp_path, customers=250, outage_s=SHORT_OUTAGE_S)


@pytest.mark.soak
def test_the_sink_rides_out_a_long_warehouse_outage(settings: Settings, tmp_path: Path) -> None:
    warehouse_outage(settings, tmp_path, customers=1000, outage_s=SOAK_OUTAGE_S)


def broker_outage(settings: Settings, broker: LocalBroker, tmp_path: Path, customers: int, outage_s: float) -> None:
    simulation = h.simulation_of(customers, seed=8200)
    kafka = settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
    local = h.pipeline_settings(settings.model_copy(update={"kafka": kafka}), tmp_path)
    h.prepare(local)
    # idle for longer than the outage before it stops: the worker must ride it out, not exit
    worker = h.start_worker(local, "--exit-when-idle", str(outage_s + h.IDLE_EXIT_S))
    try:
        with h.publishing(local, simulation, rate=h.PUBLISH_PACE_EVENTS_S / 2):
            time.sleep(outage_s / 4)
            freeze(broker, outage_s)
        assert worker.wait(h.WORKER_TIMEOUT_S) == 0, h.worker_log(local)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    h.assert_warehouse_matches_truth(h.dump(local), simulation)


def freeze(broker: LocalBroker, seconds: float) -> None:
    """The broker unreachable: its process stopped (data kept in memory), then continued."""
    broker.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        broker.process.send_signal(signal.SIGCONT)


def test_producers_and_worker_ride_out_a_broker_outage(settings: Settings, fresh_broker: LocalBroker,
                                                      tmp_path: Path) -> None:
    broker_outage(settings, fresh_broker, tmp_path, customers=250, outage_s=SHORT_OUTAGE_S)


@pytest.mark.soak
def test_producers_and_worker_ride_out_a_long_broker_outage(settings: Settings, fresh_broker: LocalBroker,
                                                           tmp_path: Path) -> None:
    broker_outage(settings, fresh_broker, tmp_path, customers=1000, outage_s=SOAK_OUTAGE_S)
