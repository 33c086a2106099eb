"""The worker's erased tokens: loaded at start and followed on the tombstones' partition while it runs.

Against the local broker: a tombstone already on identity.links is loaded; one published while
the follower runs is picked up; ordinary link records on the same partition are passed over.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer

from journeys.erasure import publish_tombstone, tombstone
from journeys.kafka import ensure_topics, producer_options, topic
from journeys.settings import Settings
from schemas.outputs import IDENTITY_TOPIC
from streams import erasure
from streams.erasure import FORGOTTEN_CUSTOMER, erased_token

WAIT_S = 15.0


class TaskHolder:
    """The two calls of a Faust app that `erasure.attach` makes: the task to run, and a crash."""

    def __init__(self) -> None:
        self.tasks: list[Any] = []
        self.crashed: list[BaseException] = []

    def task(self, fn: Any) -> Any:
        self.tasks.append(fn)
        return fn

    async def crash(self, error: BaseException) -> None:
        self.crashed.append(error)


def test_tombstones_are_loaded_then_followed(settings: Settings) -> None:
    ensure_topics(settings)
    publish_tombstone(settings, tombstone({"email_hash:before"}, datetime.now(UTC)))
    holder = TaskHolder()
    tokens = erasure.attach(holder, settings)
    assert tokens == {erased_token("email_hash:before")}

    async def follow_while_publishing() -> set[str]:
        follower = asyncio.create_task(holder.tasks[0]())
        await asyncio.sleep(1.0)
        ordinary = KafkaProducer(**producer_options(settings))  # a link on the tombstones' own partition
        ordinary.send(topic(settings, IDENTITY_TOPIC), b'{"kind": "link", "identifiers": ["erased:x"]}',
                      key=FORGOTTEN_CUSTOMER.encode()).get(timeout=10)
        ordinary.close()
        await asyncio.to_thread(publish_tombstone, settings, tombstone({"phone_hash:during"}, datetime.now(UTC)))
        deadline = time.monotonic() + WAIT_S
        while erased_token("phone_hash:during") not in tokens and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        follower.cancel()
        return set(tokens)

    seen = asyncio.run(follow_while_publishing())
    assert seen == {erased_token("email_hash:before"), erased_token("phone_hash:during")}
    assert not holder.crashed
