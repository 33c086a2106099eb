"""Streams adapter: a Faust table written back once per batch, not once per key.

Setting a key on a Faust table sends one changelog message through Faust's producer buffer,
which drains one message per event-loop turn: with the identity graph's and the customer
states' writes, that buffer was the worker's bottleneck. `BufferedTable` is the mutable mapping
the core works on: reads see the batch's own writes first, then the table; `flush()` puts every
pending write into the table's store and appends the changelog record Faust itself would have
sent (same topic, partition, key and value encoding) to the worker's batch sender, so recovery
from the changelog works exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from streams.batch_send import BatchSender

_DELETED = object()


class BufferedTable(MutableMapping[str, Any]):
    """A Faust table seen through this batch's pending writes."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.pending: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        value = self.pending[key] if key in self.pending else self.table[key]
        if value is _DELETED:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self.pending[key] if key in self.pending else self.table.get(key, _DELETED)
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

    async def flush(self, sender: BatchSender, partition: int) -> None:
        """Store the pending writes and queue their changelog records (the caller flushes the sender)."""
        changelog = self.table.changelog_topic
        name = changelog.get_topic_name()
        pending, self.pending = self.pending, {}
        for key, value in pending.items():
            raw_key = changelog.prepare_key(key, self.table.key_serializer)[0]
            if value is _DELETED:
                self.table.data.pop(key, None)
                await sender.add(name, raw_key, None, partition)
            else:
                self.table.data[key] = value
                await sender.add(name, raw_key, changelog.prepare_value(value, self.table.value_serializer)[0],
                                 partition)
