"""One registry of outputs: the worker's keys, the sink's topics and models, the warehouse tables
and the created topics all come from schemas.outputs.OUTPUTS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clickhouse.rows import COLUMNS, rows_of
from clickhouse.sink import SINK_TOPICS
from foundation.kafka import topic_specs
from foundation.settings import Settings
from schemas.outputs import OUTPUTS, HealthSample, IdentityLink, record_id, topic_and_key


def test_every_output_topic_is_read_by_the_sink_and_lands_in_known_tables() -> None:
    assert set(SINK_TOPICS) == set(OUTPUTS)
    assert {table for kind in OUTPUTS.values() for table in kind.tables} == set(COLUMNS)


def test_every_output_topic_is_created_with_its_cleanup_policy() -> None:
    settings = Settings(kafka={"topic_prefix": "t.", "partitions": 3})
    specs = {spec.name: spec for spec in topic_specs(settings)}
    for kind in OUTPUTS.values():
        spec = specs[f"t.{kind.topic}"]
        assert (spec.compacted, spec.partitions) == (kind.compacted, 1 if kind.single_partition else 3)


def test_records_are_keyed_and_stored_as_the_registry_says() -> None:
    now = datetime(2026, 3, 2, tzinfo=UTC)
    link = IdentityLink(link_id="l-1", kind="link", customer_id="cust-1", identifiers=("a:1",), rule="login",
                        event_time=now, recorded_at=now)
    sample = HealthSample(minute=now, stage="worker")
    assert topic_and_key(link) == ("identity.links", "cust-1")
    assert topic_and_key(sample) == ("pipeline.health", "worker")
    assert [table for table, _ in rows_of(link)] == ["identity_links"]


def test_versioned_records_are_identified_by_their_kind() -> None:
    assert record_id({"friction_id": "f-1", "journey_id": "j-1", "rule": "x", "version": 1}) == "f-1"
    assert record_id({"journey_id": "j-1", "segment": "s", "version": 1}) == "j-1"
    assert record_id({"step_index": 0, "journey_id": "j-1", "event": {"event_id": "e1"}, "version": 1}) == "e1"
    with pytest.raises(ValueError, match="not a versioned output record"):
        record_id({"link_id": "l-1", "kind": "link"})
