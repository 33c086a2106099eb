"""Streams adapter: a Faust table written back once per batch, not once per key.

Setting a key on a Faust table sends one changelog message through Faust's producer buffer,
which drains one message per event-loop turn: with the identity graph's and the customer
states' writes, that buffer was the worker's bottleneck. `BufferedTable` is the mutable mapping
the core works on: reads see the batch's own writes first, then the table; `flush()` puts every
pending write into the table's store and appends the changelog record Faust itself would have
sent (same topic, partition, key and value encoding) to the worker's batch sender, so recovery
from the changelog works exactly as before. Reads and writes go to the table's store directly (the
table itself only adds a statistics hook per key, which cost as much as the read).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

from streams.batch_send import BatchSender

log = logging.getLogger(__name__)
_DELETED = object()


class BufferedTable(MutableMapping[str, Any]):
    """A Faust table seen through this batch's pending writes."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.pending: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        value = self.pending[key] if key in self.pending else self.table.data[key]
        if value is _DELETED:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self.pending[key] if key in self.pending else self.table.data.get(key, _DELETED)
        return default if value is _DELETED else value

    def __setitem__(self, key: str, value: Any) -> None:
        self.pending[key] = value

    def __delitem__(self, key: str) -> None:
        self[key]  # KeyError when absent, as a dict would
        self.pending[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        keys = dict.fromkeys(self.table.keys())
        keys.update(dict.fromkeys(self.pending))
        return (k for k in keys if self.get(k, _DELETED) is not _DELETED)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    async def flush(self, sender: BatchSender, partition: int, whole: bool = False) -> None:
        """Store the pending writes and queue their changelog records (the caller flushes the sender).

        `whole`: the records go out as one record batch of their own (see BatchSender.send_whole).
        """
        changelog = self.table.changelog_topic
        name = changelog.get_topic_name()
        pending, self.pending = self.pending, {}
        records: list[tuple[bytes, bytes | None]] = []
        for key, value in pending.items():
            raw_key = changelog.prepare_key(key, self.table.key_serializer)[0]
            if value is _DELETED:
                self.table.data.pop(key, None)
                records.append((raw_key, None))
            else:
                self.table.data[key] = value
                records.append((raw_key, changelog.prepare_value(value, self.table.value_serializer)[0]))
        if whole:
            await sender.send_whole(name, partition, records)
            return
        await sender.add_many(((name, raw_key, raw_value) for raw_key, raw_value in records), partition)


class Prefixed(MutableMapping[str, Any]):
    """One mapping inside a shared table: its keys carry `prefix` there."""

    def __init__(self, table: MutableMapping[str, Any], prefix: str) -> None:
        self.table, self.prefix = table, prefix

    def __getitem__(self, key: str) -> Any:
        return self.table[self.prefix + key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.table.get(self.prefix + key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.table[self.prefix + key] = value

    def __delitem__(self, key: str) -> None:
        del self.table[self.prefix + key]

    def __iter__(self) -> Iterator[str]:
        return (k[len(self.prefix):] for k in self.table if k.startswith(self.prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)
