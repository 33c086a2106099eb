"""The local broker's workaround: end offsets read from Fetch responses are the true ones."""

from __future__ import annotations

from kafka import KafkaProducer, TopicPartition

from foundation.kafka import TopicSpec, ensure_topics, producer_options, topic
from foundation.settings import Settings
from streams.tansu_fixes import fetch_highwaters

MESSAGES = 7


def test_fetch_highwaters_counts_every_message_of_each_partition(settings: Settings) -> None:
    name = topic(settings, "highwater")
    ensure_topics(settings, [TopicSpec(name, 2)])
    producer = KafkaProducer(**producer_options(settings))
    for n in range(MESSAGES):  # several batches, the case ListOffsets(LATEST) gets wrong here
        producer.send(name, f"m{n}".encode(), partition=0)
        producer.flush()
    producer.close()
    found = fetch_highwaters(settings, [TopicPartition(name, 0), TopicPartition(name, 1)])
    assert found == {TopicPartition(name, 0): MESSAGES, TopicPartition(name, 1): 0}
