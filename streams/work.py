"""Streams adapter: the work messages between the worker's stages, and which partition they go to.

Stage 1 sends stage 2 batches of compact records; stage 2 sends each partition of the customers
topic the commands for its customers (streams.core.commands), in order. Work travels in batches
(one Kafka message per batch and partition), so Faust's per-message cost is paid once per batch.
A batch may be larger than a message may be: it is cut into messages of at most
MAX_MESSAGE_BYTES (streams.batch_send: records carry up to a 64 KiB event's measures, and a batch
may hold any number of them), packed (streams.codecs). Consecutive messages of one partition are handled in
order, so cutting a batch changes nothing.
"""

from __future__ import annotations

import zlib
from typing import Any

from streams.batch_send import MAX_MESSAGE_BYTES
from streams.codecs import pack, wire_of
from streams.core.commands import Command


def partition_for(customer_id: str, partitions: int) -> int:
    """The customers-topic partition of a customer (crc32: stable across processes and versions)."""
    return zlib.crc32(customer_id.encode()) % partitions


def by_partition(commands: list[Command], partitions: int) -> dict[int, list[Command]]:
    """Commands per partition of the customer each is for, in their order."""
    routed: dict[int, list[Command]] = {}
    for command in commands:
        routed.setdefault(partition_for(command.customer_id, partitions), []).append(command)
    return routed


def command_messages(commands: list[Command], limit: int = MAX_MESSAGE_BYTES) -> list[bytes]:
    """One partition's commands as work messages."""
    return work_messages([wire_of(command) for command in commands], limit)


def work_messages(items: list[Any], limit: int) -> list[bytes]:
    """A batch of records or wire commands as work messages (packed JSON arrays, in order) of at
    most `limit` bytes each, so a batch of any size fits the broker's message limit. A hand-over
    (`["a", ...]`) too large for one message is cut into several with the same revision (each
    absorbs its part); any other single item goes alone."""
    blob = pack(items)
    if len(blob) <= limit:
        return [blob]
    if len(items) > 1:
        half = len(items) // 2
        return work_messages(items[:half], limit) + work_messages(items[half:], limit)
    command = items[0]
    if isinstance(command, list) and command and command[0] == "a" and len(command[3]) > 1:
        _, survivor, revision, records, *spec = command
        half = len(records) // 2
        return (work_messages([["a", survivor, revision, records[:half], *spec]], limit)
                + work_messages([["a", survivor, revision, records[half:], *spec]], limit))
    return [blob]
