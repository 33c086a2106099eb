"""The sink through the real local broker: lands every record, survives a replay and a failing warehouse."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from clickhouse_connect.driver.client import Client
from kafka import KafkaProducer
from pydantic import BaseModel

from clickhouse.agents import WarehousePort, run_until, sink_app
from clickhouse.queries import QUERIES, Filters, run
from foundation.kafka import ensure_topics, producer_options, topic
from foundation.settings import Settings
from schemas.outputs import (
    DEADLETTER_TOPIC,
    FRICTION_TOPIC,
    HEALTH_TOPIC,
    IDENTITY_TOPIC,
    STATE_TOPIC,
    STEPS_TOPIC,
    DeadLetter,
    FrictionEvent,
    HealthSample,
    IdentityLink,
    JourneySnapshot,
    JourneyStep,
)
from tests.clickhouse import scenario as s

GIVE_UP_S = 90.0  # a guard against a hung run, not a speed assertion
ROUTES: dict[type[BaseModel], tuple[str, str]] = {
    JourneyStep: (STEPS_TOPIC, "customer_id"), JourneySnapshot: (STATE_TOPIC, "journey_id"),
    FrictionEvent: (FRICTION_TOPIC, "friction_id"), IdentityLink: (IDENTITY_TOPIC, "customer_id"),
    HealthSample: (HEALTH_TOPIC, "stage"), DeadLetter: (DEADLETTER_TOPIC, "source"),
}
GARBAGE = b'{"customer_id": "cust-x", "not": "a step"'


def publish(settings: Settings, records: list[BaseModel], raw: list[bytes] = ()) -> int:  # type: ignore[assignment]
    """Send records as JSON to their output topics (and raw bytes to the steps topic); returns messages sent."""
    ensure_topics(settings)
    producer = KafkaProducer(**producer_options(settings))
    try:
        for record in records:
            name, key = ROUTES[type(record)]
            value = record.model_dump_json(serialize_as_any=True).encode()
            producer.send(topic(settings, name), value, key=str(getattr(record, key)).encode())
        for payload in raw:
            producer.send(topic(settings, STEPS_TOPIC), payload, key=b"cust-x")
        producer.flush()
    finally:
        producer.close()
    return len(records) + len(raw)


def run_sink(settings: Settings, messages: int, name: str = "journeys-sink", during: Any = None) -> WarehousePort:
    """Run the sink in this process until it has written `messages` records."""
    app, port = sink_app(settings, name)
    loop_time = asyncio.new_event_loop().time

    async def done() -> bool:
        if during is not None:
            await during(port)
        assert loop_time() - started < GIVE_UP_S, f"sink wrote {port.records_written} of {messages} records"
        return port.records_written >= messages

    started = loop_time()
    asyncio.run(run_until(app, done))
    return port


def results(client: Client) -> dict[str, Any]:
    return {name: run(client, name, Filters(), s.PHASES).rows for name in QUERIES}


def funnel(client: Client) -> list[tuple[Any, ...]]:
    return run(client, "funnel", Filters(), s.PHASES).rows


def test_sink_lands_every_record_and_dead_letters_garbage(settings: Settings, warehouse: Client) -> None:
    sent = publish(settings, s.RECORDS, [GARBAGE])
    run_sink(settings, sent)
    assert funnel(warehouse) == s.FUNNEL
    frictions = run(warehouse, "friction_top", Filters(), s.PHASES).as_dicts()
    assert sorted(r["rule"] for r in frictions) == sorted(
        ["long_wait", "low_csat", "transfers", "long_queue", "abandoned_checkout", "poor_navigation"])
    letters = warehouse.query("SELECT source, kind, payload FROM dead_letters FINAL ORDER BY kind").result_rows
    assert [kind for _, kind, _ in letters] == ["undecodable", "validation"]
    source, _, payload = letters[0]
    assert source.startswith(f"topic:{topic(settings, STEPS_TOPIC)}/") and payload == GARBAGE.decode()
    card = {(r["touchpoint"], r["kpi"]): r["value"]
            for r in run(warehouse, "touchpoint_scorecard", Filters(), s.PHASES).as_dicts()}
    assert card[("web.product", "avg_navigation_ease")] == 1  # measures survive the trip through Kafka


def test_the_sink_counts_the_health_samples_it_wrote_by_reporter(settings: Settings, warehouse: Client) -> None:
    """A worker leaving on an idle exit waits until its embedded sink has written its own last samples."""
    samples = [HealthSample(minute=s.MINUTE + timedelta(minutes=n), stage="worker", channel="web", events=n,
                            reporter=reporter) for n, reporter in enumerate(("host:1", "host:1", "host:2"))]
    port = run_sink(settings, publish(settings, [*s.RECORDS, *samples]))
    assert (port.samples_written["host:1"], port.samples_written["host:2"]) == (2, 1)
    assert warehouse.query("SELECT count() FROM pipeline_health WHERE reporter = 'host:1'").result_rows == [(2,)]


def test_replaying_every_topic_from_offset_zero_changes_no_result(settings: Settings, warehouse: Client) -> None:
    sent = publish(settings, s.RECORDS, [GARBAGE])
    run_sink(settings, sent)
    before = results(warehouse)
    assert before["funnel"] == s.FUNNEL
    run_sink(settings, sent, name="journeys-sink-replay")  # a new group reads everything again
    assert results(warehouse) == before


def test_a_failing_warehouse_delays_but_loses_and_doubles_nothing(settings: Settings, warehouse: Client) -> None:
    sent = publish(settings, s.RECORDS, [GARBAGE])
    warehouse.command("RENAME TABLE journeys TO journeys_away")  # journey inserts now fail for real
    restored = False

    async def restore_after_failures(port: WarehousePort) -> None:
        nonlocal restored
        if not restored and sum(port.health.errors.values()) + port.health.flushes >= 3:
            warehouse.command("RENAME TABLE journeys_away TO journeys")
            restored = True

    port = run_sink(settings, sent, during=restore_after_failures)
    assert restored and port.health.flushes >= 1
    assert funnel(warehouse) == s.FUNNEL
    assert warehouse.query("SELECT count() FROM journeys FINAL").result_rows == [(5,)]
    health = {r["metric"]: r["value"] for r in run(warehouse, "journey_health", Filters(), s.PHASES).as_dicts()}
    assert health["sink_errors"] >= 3 and health["sink_retries"] == health["sink_errors"]
    assert health["journeys_active"] == 3 and health["dead_letters"] == 2


def test_a_record_the_warehouse_refuses_is_dead_lettered_and_the_rest_written(settings: Settings,
                                                                              warehouse: Client) -> None:
    """A batch refused while the warehouse answers would stop its topic for good: after the
    configured time it is split, the refused record kept in dead_letters with the reason."""
    quick = settings.model_copy(update={"clickhouse": settings.clickhouse.model_copy(
        update={"refused_batch_after_s": 0.5})})
    sent = publish(quick, s.RECORDS, [GARBAGE])
    warehouse.command("ALTER TABLE friction ADD CONSTRAINT no_transfers CHECK rule != 'transfers'")
    port = run_sink(quick, sent)
    frictions = run(warehouse, "friction_top", Filters(), s.PHASES).as_dicts()
    assert sorted(r["rule"] for r in frictions) == sorted(
        ["long_wait", "low_csat", "long_queue", "abandoned_checkout", "poor_navigation"])
    assert funnel(warehouse) == s.FUNNEL  # the other topics and records went on
    [(source, reason, problems, payload)] = warehouse.query(
        "SELECT source, reason, problems, payload FROM dead_letters FINAL WHERE kind = 'refused'").result_rows
    assert source.startswith(f"topic:{topic(quick, FRICTION_TOPIC)}/") and "friction" in reason
    assert "no_transfers" in problems[0] and '"rule":"transfers"' in payload
    assert sum(port.health.errors.values()) + port.health.flushes >= 2  # the refusals were counted
