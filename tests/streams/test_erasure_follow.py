"""The erasure list as a writer sees it: loaded at start and followed while it runs.

Against the local broker: tokens already on the list are loaded; one published while the
follower runs is picked up; the list topic is compacted, one partition, and holds tokens only.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from foundation import erasure_list
from foundation.kafka import common_options, ensure_topics, topic
from foundation.settings import Settings
from schemas.erasure import ERASURE_TOPIC, erased_token
from tests.producers.readback import read_topic

WAIT_S = 15.0


class TaskHolder:
    """The two calls of a Faust app that `erasure_list.attach` makes: the task to run, and a crash."""

    def __init__(self) -> None:
        self.tasks: list[Any] = []
        self.crashed: list[BaseException] = []

    def task(self, fn: Any) -> Any:
        self.tasks.append(fn)
        return fn

    async def crash(self, error: BaseException) -> None:
        self.crashed.append(error)


def test_the_erasure_list_is_loaded_then_followed(settings: Settings) -> None:
    ensure_topics(settings)
    secret = erasure_list.secret_of(settings)
    before, during = erased_token("email_hash:before", secret), erased_token("phone_hash:during", secret)
    erasure_list.publish(settings, {before})
    holder = TaskHolder()
    erasures = erasure_list.attach(holder, settings)
    assert erasures.tokens == {before} and erasures.refuses(["email_hash:before"])
    assert not erasures.refuses(["email_hash:other"])

    async def follow_while_publishing() -> set[str]:
        follower = asyncio.create_task(holder.tasks[0]())
        await asyncio.sleep(1.0)
        await asyncio.to_thread(erasure_list.publish, settings, {during})
        deadline = time.monotonic() + WAIT_S
        while during not in erasures.tokens and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        follower.cancel()
        return set(erasures.tokens)

    assert asyncio.run(follow_while_publishing()) == {before, during}
    assert not holder.crashed
    messages = read_topic(settings, topic(settings, ERASURE_TOPIC), 2)
    assert {m.key.decode() for m in messages} == {before, during}
    assert all(b"before" not in m.value and b"during" not in m.value for m in messages)  # tokens only


def test_the_erasure_list_is_a_compacted_topic_of_one_partition(settings: Settings) -> None:
    ensure_topics(settings)
    name = topic(settings, ERASURE_TOPIC)
    admin = KafkaAdminClient(**common_options(settings))
    try:
        (described,) = admin.describe_topics([name])
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)], config_filter="all")
    finally:
        admin.close()
    assert len(described["partitions"]) == 1
    assert configs["topic"][name]["cleanup.policy"]["value"] == "compact"


def test_a_tombstone_on_the_list_does_not_bring_an_erased_customer_back(settings: Settings) -> None:
    """Found by an attacker's review: a null value under a token withdrew it, so anyone who could write
    to the topic (its tokens are readable there) could undo an erasure with one message."""
    from kafka import KafkaProducer

    from foundation.kafka import producer_options

    ensure_topics(settings)
    token = erased_token("email_hash:ann", erasure_list.secret_of(settings))
    erasure_list.publish(settings, {token})
    producer = KafkaProducer(**producer_options(settings))
    producer.send(topic(settings, ERASURE_TOPIC), key=token.encode(), value=None).get(timeout=WAIT_S)
    producer.close()
    erasures, _ = erasure_list.load(settings)
    assert erasures.refuses(["email_hash:ann"])
