"""Topic creation against the real local broker: all topics, right partitions, idempotent."""

from __future__ import annotations

from kafka import KafkaAdminClient

from foundation.kafka import common_options, ensure_topics, topic_specs
from foundation.settings import Settings


def test_topics_are_created_once_with_their_partitions(settings: Settings) -> None:
    created = ensure_topics(settings)
    assert sorted(created) == sorted(s.name for s in topic_specs(settings))
    assert ensure_topics(settings) == []
    admin = KafkaAdminClient(**common_options(settings))
    try:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(created)}
    finally:
        admin.close()
    assert described[f"{settings.kafka.topic_prefix}touchpoints.web"] == settings.kafka.partitions
    assert described[f"{settings.kafka.topic_prefix}pipeline.health"] == 1
