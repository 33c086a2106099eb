"""Streams adapter: how far each stage has applied its input, kept with the state it produced.

Faust's consumer commits offsets on its own schedule, and around rebalances (a worker restarted
after a crash, a dead member leaving the group) it can re-deliver work a stage has already applied
and, worse, skip messages it never handed to the agent while acknowledging them as a gap. Stages 2
and 3 therefore keep, per input partition, the next offset they expect (`@next/<partition>`) in
their own table, written after the state changes of the message that moved it, in the same
changelog partition. On every message:

- an offset below the mark was applied before a crash: it is skipped (the state already holds it,
  and its work for the next stage was delivered before the state was written);
- an offset above the mark means messages were skipped: they are read from the topic directly
  (journeys.gaps) and applied first, in order, so no work is lost;
- otherwise it is applied and the mark moves past it.

A crash between a message's state writes and its mark replays that message once more against
the newer state: a duplicate, which changes nothing and re-sends the same records.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from journeys.gaps import read_range_async
from journeys.settings import Settings

log = logging.getLogger(__name__)

MARK_PREFIX = "@next/"


def mark_key(partition: int) -> str:
    """The table key of a partition's mark (no identifier or customer id starts with '@')."""
    return f"{MARK_PREFIX}{partition}"


def is_mark(key: str | bytes) -> bool:
    """A mark's key, also as a changelog key (which the table's serializer may have quoted)."""
    return (key.decode(errors="replace") if isinstance(key, bytes) else key).lstrip('"').startswith(MARK_PREFIX)


def expected_offset(table: MutableMapping[str, Any], partition: int) -> int | None:
    raw = table.get(mark_key(partition))
    return None if raw is None else int(raw)


async def unapplied(table: MutableMapping[str, Any], settings: Settings, message: Any) -> list[tuple[int, bytes]]:
    """The (offset, value) pairs to apply for this message: none if applied already, the skipped ones first."""
    expected = expected_offset(table, message.partition)
    if expected is not None and message.offset < expected:
        log.info("%s/%s offset %s was applied before a restart: skipped", message.topic, message.partition,
                 message.offset)
        return []
    todo: list[tuple[int, bytes]] = []
    if expected is not None and message.offset > expected:
        todo = [(offset, value) for offset, _, value in
                await read_range_async(settings, message.topic, message.partition, expected, message.offset)]
        log.warning("%s/%s: the consumer skipped offsets %s..%s; %d read back and applied first",
                    message.topic, message.partition, expected, message.offset - 1, len(todo))
    return [*todo, (message.offset, message.value)]
