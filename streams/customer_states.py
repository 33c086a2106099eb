"""Streams adapter: stage 3's customer states as stored in the customer-state table, with a memory.

The table holds each customer's encoded state (streams.codecs). Decoding a state and working out
its layout again for every batch would cost more than the stitching, so the worker remembers,
across batches, each customer's decoded state and layout with the stored bytes they belong to:
when the stored bytes are still those, neither is rebuilt (a cache, not state: a rebalance or a
restart only costs a decode). It keeps the JSON of the state's events too: events only ever come
after the remembered ones in the usual case, and then only they are encoded when the state is
stored again.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from streams.codecs import decode_state, encode_state, extended_json
from streams.core.fold import CustomerState
from streams.core.layout import Layout
from streams.core.stitching import Loaded

MAX_REMEMBERED_CUSTOMERS = 20_000  # customers whose decoded state and layout stay in memory
# customer -> (stored blob, its state, its layout, the JSON of its events)
Memory = dict[str, tuple[bytes, CustomerState, Layout, bytes]]


class CustomerStates:
    """One batch's view of the stored states: `load` for streams.core.stitching, `stored` to write back."""

    def __init__(self, read: Callable[[str], bytes | None], memory: Memory) -> None:
        self.read, self.memory = read, memory
        self.blobs: dict[str, bytes | None] = {}
        self.remembered: dict[str, tuple[CustomerState, bytes]] = {}  # state as loaded, JSON of its events

    def load(self, customer_id: str) -> Loaded:
        blob = self.blobs[customer_id] = self.read(customer_id)
        known = self.memory.get(customer_id)
        if known is not None and known[0] == blob:
            self.remembered[customer_id] = (known[1], known[3])
            return known[1], known[2]
        return decode_state(blob), None

    def stored(self, changed: dict[str, Loaded]) -> dict[str, bytes]:
        """The changed states' bytes to write (those that differ from what is stored); remembered."""
        stored: dict[str, bytes] = {}
        if len(self.memory) > MAX_REMEMBERED_CUSTOMERS:
            self.memory.clear()
        for customer_id, (state, layout) in changed.items():
            events_json = self._events_json(customer_id, state)
            blob = encode_state(state, events_json)
            if blob != self.blobs.get(customer_id):
                stored[customer_id] = blob
            if layout is None:
                self.memory.pop(customer_id, None)
            else:
                self.memory[customer_id] = (blob, state, layout, events_json)
        return stored

    def _events_json(self, customer_id: str, state: CustomerState) -> bytes:
        """The JSON of the state's events, extended from the remembered one when they only came after it.

        The stitcher inserts events into a copy of the list it had: its last remembered record still
        at the same place means every new one went after it.
        """
        remembered = self.remembered.get(customer_id)
        if remembered is not None:
            before, events_json = remembered
            known = len(before.events)
            if known == 0 or (len(state.events) >= known and state.events[known - 1] is before.events[-1]):
                return extended_json(events_json, known, state.events)
        return orjson.dumps(state.events)
