"""Streams core: the work messages between the worker's stages, and how each stage handles them.

Stage 2 (identity, one partition) sends per customer partition one message per batch: a list of
commands, in order:
- `["e", customer_id, record]`            stitch this event into the customer
- `["m", absorbed_id, survivor_id]`       the absorbed customer merges into the survivor
- `["a", survivor_id, revision, records]` the absorbed customer's events, for the survivor
Stage 3 handles them against the customers' states; an absorbed customer keeps a tombstone
pointing at its survivor, so work that arrives for it later follows the merge. A merge of a
customer that was itself absorbed already (a chain) still retracts and hands over what it has.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from schemas.journeymap import JourneyMap
from streams.core.identity import IdentityGraph, Sighting
from streams.core.layout import Layout, Output
from streams.core.records import CHANNEL, EVENT_ID, EVENT_TYPE, IDS, Record, T, from_ms
from streams.core.stitch import CustomerState, absorb, apply_many, decode, encode, retract

Command = list[Any]
Routed = list[tuple[int, Command]]  # (partition, command)
MAX_CACHED_LAYOUTS = 20_000  # customers whose latest layout is kept in memory (a cache, not state)


def partition_for(customer_id: str, partitions: int) -> int:
    """The customers-topic partition of a customer (stable across processes)."""
    return zlib.crc32(customer_id.encode()) % partitions


def route_identity(graph: IdentityGraph, records: list[Record], partitions: int) -> tuple[Routed, list[Any]]:
    """Stage 2: resolve each record; commands for stage 3 and the identity-link records."""
    routed: Routed = []
    links: list[Any] = []
    for record in records:
        resolution = graph.resolve(Sighting(record[EVENT_ID], record[CHANNEL], record[EVENT_TYPE],
                                            tuple(record[IDS]), from_ms(record[T])))
        links += resolution.links
        for absorbed, survivor in resolution.merges:
            routed.append((partition_for(absorbed, partitions), ["m", absorbed, survivor]))
        routed.append((partition_for(resolution.customer_id, partitions), ["e", resolution.customer_id, record]))
    return routed, links


class PartitionWork:
    """Stage 3 for one batch of commands: customer states loaded on demand, layouts cached across batches.

    `load` returns a customer's stored state (bytes) or None; after `handle_batch`, `changed()`
    gives the states to store back. Consecutive events of one customer are folded at once.
    """

    def __init__(self, journey_map: JourneyMap, partitions: int, load: Callable[[str], bytes | None],
                 layouts: dict[str, tuple[int, Layout]]) -> None:
        self.map, self.partitions, self.load, self.layouts = journey_map, partitions, load, layouts
        self.states: dict[str, CustomerState] = {}
        self.blobs: dict[str, bytes | None] = {}

    def state(self, customer_id: str) -> CustomerState:
        if customer_id not in self.states:
            self.blobs[customer_id] = self.load(customer_id)
            self.states[customer_id] = decode(self.blobs[customer_id])
        return self.states[customer_id]

    def changed(self) -> dict[str, bytes]:
        blobs = {cid: encode(state) for cid, state in self.states.items()}
        return {cid: blob for cid, blob in blobs.items() if blob != self.blobs.get(cid)}

    def handle_batch(self, commands: list[Command]) -> tuple[list[Output], Routed]:
        outputs: list[Output] = []
        routed: Routed = []
        pending: dict[str, list[Record]] = {}
        for command in commands:
            if command[0] == "e":
                pending.setdefault(command[1], []).append(command[2])
                continue
            self._fold(command[1], pending.pop(command[1], []), outputs, routed)
            (self._merge if command[0] == "m" else self._absorb)(command, outputs, routed)
        for customer_id, records in pending.items():
            self._fold(customer_id, records, outputs, routed)
        if len(self.layouts) > MAX_CACHED_LAYOUTS:
            self.layouts.clear()
        return outputs, routed

    def _before(self, customer_id: str, state: CustomerState) -> Layout | None:
        cached = self.layouts.get(customer_id)
        return cached[1] if cached is not None and cached[0] == state.revision else None

    def _fold(self, customer_id: str, records: list[Record], outputs: list[Output], routed: Routed) -> None:
        if not records:
            return
        state = self.state(customer_id)
        if state.merged_into:
            routed += [(partition_for(state.merged_into, self.partitions), ["e", state.merged_into, r]) for r in records]
            return
        new, out, after = apply_many(state, records, customer_id, self.map, self._before(customer_id, state))
        self.states[customer_id], self.layouts[customer_id] = new, (new.revision, after)
        outputs += out

    def _absorb(self, command: Command, outputs: list[Output], routed: Routed) -> None:
        _, customer_id, revision, records = command
        state = self.state(customer_id)
        if state.merged_into:
            routed.append((partition_for(state.merged_into, self.partitions), ["a", state.merged_into, revision, records]))
            return
        new, out, after = absorb(state, records, revision, customer_id, self.map, self._before(customer_id, state))
        self.states[customer_id], self.layouts[customer_id] = new, (new.revision, after)
        outputs += out

    def _merge(self, command: Command, outputs: list[Output], routed: Routed) -> None:
        _, customer_id, survivor = command
        state = self.state(customer_id)
        gone, out, records = retract(state, customer_id, self.map, self._before(customer_id, state))
        gone.merged_into = survivor
        self.states[customer_id] = gone
        self.layouts.pop(customer_id, None)
        outputs += out
        routed.append((partition_for(survivor, self.partitions), ["a", survivor, gone.revision, records]))
