"""Test helper: search every topic and every file for traces of a customer (strings), after erasure.

Topics are read whole from the start. A compacted topic is judged as compaction leaves it (the
newest value of each key; a null value removes the key): that is what a reader rebuilding from it
sees, and all a compacting broker keeps. The local broker never compacts, so the older values are
still in its log; the append-only topics (raw events, steps, links, dead letters) keep everything
until retention. Both are counted, to be reported, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundation.kafka import common_options
from foundation.settings import Settings
from schemas.erasure import ERASURE_TOPIC
from schemas.outputs import FRICTION_TOPIC, STATE_TOPIC
from tests.reliability.harness import POLL_MS, QUIET_POLLS

COMPACTED = (STATE_TOPIC, FRICTION_TOPIC, ERASURE_TOPIC)


@dataclass
class TopicTraces:
    compacted_view: dict[str, int] = field(default_factory=dict)  # topic -> live values naming the customer
    log: dict[str, int] = field(default_factory=dict)  # topic -> messages naming the customer, in the whole log
    last_values: dict[str, dict[tuple[int, bytes], bytes | None]] = field(default_factory=dict)


def is_compacted(settings: Settings, name: str) -> bool:
    bare = name.removeprefix(settings.kafka.topic_prefix)
    return bare in COMPACTED or bare.endswith("-changelog")


def messages(settings: Settings, name: str) -> list[Any]:
    """Every message of a topic, from the start until it stays quiet (end offsets lie on the local broker)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        found: list[Any] = []
        quiet = 0
        while quiet < QUIET_POLLS:
            got = [r for records in consumer.poll(timeout_ms=POLL_MS).values() for r in records]
            found, quiet = found + got, 0 if got else quiet + 1
        return found
    finally:
        consumer.close()


def topic_traces(settings: Settings, needles: set[str]) -> TopicTraces:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**common_options(settings))
    try:
        names = sorted(n for n in admin.list_topics() if n.startswith(settings.kafka.topic_prefix))
    finally:
        admin.close()
    traces = TopicTraces()
    for name in names:
        log = messages(settings, name)
        traces.log[name] = sum(1 for m in log if _names(m.key, m.value, needles))
        if is_compacted(settings, name):
            last = {(m.partition, m.key): m.value for m in log}
            traces.last_values[name] = last
            traces.compacted_view[name] = sum(1 for (_, key), value in last.items()
                                              if value is not None and _names(key, value, needles))
    return traces


def file_traces(root: Path, needles: set[str]) -> dict[str, list[str]]:
    """needle -> files under root that hold it (bytes, as written)."""
    found: dict[str, list[str]] = {}
    for path in (p for p in root.rglob("*") if p.is_file()):
        content = path.read_bytes()
        for needle in needles:
            if needle.encode() in content:
                found.setdefault(needle, []).append(str(path.relative_to(root)))
    return found


def _names(key: bytes | None, value: bytes | None, needles: set[str]) -> bool:
    text = (key or b"") + b"\x00" + (value or b"")
    return any(needle.encode() in text for needle in needles)
