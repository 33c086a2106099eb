"""Streams core: the work messages between the worker's stages, and how each stage handles them.

Stage 2 (identity, one partition) sends per customer partition one message per batch: a list of
commands, in order:
- `["e", customer_id, record]`            stitch this event into the customer
- `["m", absorbed_id, survivor_id]`       the absorbed customer merges into the survivor
- `["a", survivor_id, revision, records]` the absorbed customer's events, for the survivor
- `["x", customer_id, spec]`              late identity evidence: the customer's events that the
                                          spec (streams.core.devices) gives to others move to them
                                          (as "a" hand-overs that carry the spec)
Hand-overs of a move, and events forwarded by a tombstone, carry the move (spec) they were sent
on; a customer keeps the newest move it has seen and sends on what a newer one gives to others,
so work crossing partitions in any order ends where the newest evidence says.
Stage 3 handles them against the customers' states; an absorbed customer keeps a tombstone
pointing at its survivor, so work that arrives for it later follows the merge. A merge of a
customer that was itself absorbed already (a chain) still retracts and hands over what it has.

Work messages are packed: the JSON array, zstd-compressed (`pack`, `unpack`). Records repeat their
field values, so a message packs ~4.7x and carries a whole batch of the worker (10,000 events in
~0.6 MB) where plain JSON had to be cut at ~2,900. Each stage then handles the batch at once,
which is what makes batches cheaper per event: a customer's state is folded, described and
stored once per message, not once per piece of it. `unpack` also reads plain JSON messages (as
written before packing), so a worker upgraded in place finishes the work already queued.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, Generic

import cramjam
import orjson

from schemas.journeymap import JourneyMap
from streams.core.devices import Spec, newest, reattribute, successor
from streams.core.identity import IdentityGraph, Sighting
from streams.core.layout import Layout, Out, Renderer
from streams.core.records import CHANNEL, EVENT_ID, EVENT_TYPE, IDS, Record, T
from streams.core.stitch import (
    ZSTD_MAGIC,
    CustomerState,
    absorb,
    apply_many,
    decode,
    encode,
    extended_json,
    release,
    retract,
)

Command = list[Any]
Routed = list[tuple[int, Command]]  # (partition, command)
MAX_REMEMBERED_CUSTOMERS = 20_000  # customers whose decoded state and layout stay in memory
# Work messages stay under the producer's request limit and the broker's message limit (1 MiB
# by default), packed: a batch of 10,000 compact records is ~0.6 MB, but batches may be larger
# and records carry up to a 64 KiB event's measures.
WORK_MESSAGE_BYTES = 900 * 1024
PACK_LEVEL = 1  # zstd's fastest: ~1 µs per record to pack, less to unpack


def pack(items: list[Any]) -> bytes:
    """A work message's bytes: the items as JSON, zstd-compressed."""
    return bytes(cramjam.zstd.compress(orjson.dumps(items), level=PACK_LEVEL))


def unpack(value: bytes) -> list[Any]:
    """A work message's items; plain JSON (messages written before packing) is read as it is."""
    if value.startswith(ZSTD_MAGIC):
        value = bytes(cramjam.zstd.decompress(value))
    items: list[Any] = orjson.loads(value)
    return items


def partition_for(customer_id: str, partitions: int) -> int:
    """The customers-topic partition of a customer (stable across processes)."""
    return zlib.crc32(customer_id.encode()) % partitions


def route_identity(graph: IdentityGraph, records: list[Record], partitions: int) -> tuple[Routed, list[Any]]:
    """Stage 2: resolve each record; commands for stage 3 and the identity-link records."""
    routed: Routed = []
    links: list[Any] = []
    for record in records:
        resolution = graph.resolve(Sighting(record[EVENT_ID], record[CHANNEL], record[EVENT_TYPE],
                                            tuple(record[IDS]), record[T]))
        links += resolution.links
        for absorbed, survivor in resolution.merges:
            routed.append((partition_for(absorbed, partitions), ["m", absorbed, survivor]))
        for customer_id, spec in resolution.moves:
            routed.append((partition_for(customer_id, partitions), ["x", customer_id, spec]))
        routed.append((partition_for(resolution.customer_id, partitions), ["e", resolution.customer_id, record]))
    return routed, links


def work_messages(items: list[Any], limit: int) -> list[bytes]:
    """A batch of records or commands as work messages (packed JSON arrays, in order) of at most
    `limit` bytes each, so a batch of any size fits the broker's message limit. Consecutive
    messages of one partition are handled in order, so cutting a batch changes nothing. A hand-over
    command ("a") too large for one message is cut into several with the same revision (each
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


# customer -> (stored blob, its state, its layout, the JSON of its events)
Memory = dict[str, tuple[bytes, CustomerState, Layout, bytes]]


class PartitionWork(Generic[Out]):
    """Stage 3 for one batch of commands: customer states loaded on demand, remembered across batches.

    `load` returns a customer's stored state (bytes) or None; after `handle_batch`, `changed()`
    gives the states to store back. Consecutive events of one customer are folded at once.
    `memory` keeps, across batches, each customer's decoded state and layout with the blob they
    belong to: when the stored blob is still that one, neither is rebuilt (a cache, not state).
    It keeps the JSON of the state's events too: events only ever come after the remembered ones
    in the usual case, and then only they are encoded when the state is stored again.
    """

    def __init__(self, journey_map: JourneyMap, partitions: int, load: Callable[[str], bytes | None],
                 memory: Memory, render: Renderer[Out]) -> None:
        self.map, self.partitions, self.load, self.memory, self.render = journey_map, partitions, load, memory, render
        self.states: dict[str, CustomerState] = {}
        self.layouts: dict[str, Layout] = {}
        self.blobs: dict[str, bytes | None] = {}
        self.remembered: dict[str, tuple[CustomerState, bytes]] = {}  # state as loaded, JSON of its events
        self.dirty: set[str] = set()
        self.handlers = {"m": self._merge, "a": self._absorb, "x": self._move}

    def state(self, customer_id: str) -> CustomerState:
        if customer_id not in self.states:
            blob = self.blobs[customer_id] = self.load(customer_id)
            known = self.memory.get(customer_id)
            if known is not None and known[0] == blob:
                self.states[customer_id], self.layouts[customer_id] = known[1], known[2]
                self.remembered[customer_id] = (known[1], known[3])
            else:
                self.states[customer_id] = decode(blob)
        return self.states[customer_id]

    def changed(self) -> dict[str, bytes]:
        stored: dict[str, bytes] = {}
        if len(self.memory) > MAX_REMEMBERED_CUSTOMERS:
            self.memory.clear()
        for customer_id in self.dirty:
            state = self.states[customer_id]
            events_json = self._events_json(customer_id, state)
            blob = encode(state, events_json)
            if blob != self.blobs.get(customer_id):
                stored[customer_id] = blob
            layout = self.layouts.get(customer_id)
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

    def handle_batch(self, commands: list[Command]) -> tuple[list[Out], Routed]:
        outputs: list[Out] = []
        routed: Routed = []
        pending: dict[str, list[Record]] = {}
        for command in commands:
            if command[0] == "e":
                kept = [command[2]] if len(command) < 4 else self._keeps(command[1], [command[2]], command[3], routed)
                pending.setdefault(command[1], []).extend(kept)
                continue
            self._fold(command[1], pending.pop(command[1], []), outputs, routed)
            self.handlers[command[0]](command, outputs, routed)
        for customer_id, records in pending.items():
            self._fold(customer_id, records, outputs, routed)
        return outputs, routed

    def _keep(self, customer_id: str, state: CustomerState, layout: Layout | None) -> None:
        self.states[customer_id] = state
        self.dirty.add(customer_id)
        if layout is None:
            self.layouts.pop(customer_id, None)
        else:
            self.layouts[customer_id] = layout

    def _fold(self, customer_id: str, records: list[Record], outputs: list[Out], routed: Routed) -> None:
        if not records:
            return
        state = self.state(customer_id)
        if state.merged_into:
            routed += [(partition_for(state.merged_into, self.partitions), ["e", state.merged_into, r, state.spec])
                       for r in records]
            return
        new, out, after = apply_many(state, records, customer_id, self.map, self.render, self.layouts.get(customer_id))
        self._keep(customer_id, new, after)
        outputs += out

    def _keeps(self, customer_id: str, records: list[Record], carried: Spec | None, routed: Routed,
               revision: int = 0) -> list[Record]:
        """Records handed over (or forwarded) with the move that sent them: when this customer knows
        a newer move, those it gives to others go on to them; the newer of the two is kept."""
        state = self.state(customer_id)
        spec = newest(state.spec, carried)
        if spec is not state.spec:
            state.spec = spec
            self._keep(customer_id, state, None if state.merged_into else self.layouts.get(customer_id))
        if spec is None or (carried is not None and spec["s"] <= carried["s"]):
            return records  # sent on the newest move this customer knows: it stays
        kept, moved = reattribute(records, spec, customer_id)
        for target, some in sorted(moved.items()):
            routed.append((partition_for(target, self.partitions), ["a", target, revision, some, spec]))
        return kept

    def _absorb(self, command: Command, outputs: list[Out], routed: Routed) -> None:
        _, customer_id, revision, records, *carried = command
        records = self._keeps(customer_id, records, carried[0] if carried else None, routed, revision)
        state = self.state(customer_id)
        if state.merged_into:
            if records:
                routed.append((partition_for(state.merged_into, self.partitions),
                               ["a", state.merged_into, revision, records, state.spec]))
            return
        new, out, after = absorb(state, records, revision, customer_id, self.map, self.render,
                                 self.layouts.get(customer_id))
        self._keep(customer_id, new, after)
        outputs += out

    def _merge(self, command: Command, outputs: list[Out], routed: Routed) -> None:
        _, customer_id, survivor = command
        state = self.state(customer_id)
        gone, out, records = retract(state, customer_id, self.map, self.render, self.layouts.get(customer_id))
        gone.merged_into, gone.spec = survivor, state.spec  # the newest move it saw goes with its events
        self._keep(customer_id, gone, None)
        outputs += out
        routed.append((partition_for(survivor, self.partitions), ["a", survivor, gone.revision, records, state.spec]))

    def _move(self, command: Command, outputs: list[Out], routed: Routed) -> None:
        _, customer_id, incoming = command
        state = self.state(customer_id)
        if state.merged_into:
            routed.append((partition_for(state.merged_into, self.partitions), ["x", state.merged_into, incoming]))
            return
        spec = newest(state.spec, incoming) or incoming
        kept, moved = reattribute(state.events, spec, customer_id)
        heir = successor(spec, customer_id)
        if not moved and not heir:
            if spec is not state.spec:
                state.spec = spec
                self._keep(customer_id, state, self.layouts.get(customer_id))
            return
        new, out, after = release(state, kept, customer_id, self.map, self.render, self.layouts.get(customer_id))
        new.merged_into, new.spec = heir, spec  # a customer left without identifiers: work in flight follows
        self._keep(customer_id, new, after if not heir else None)
        outputs += out
        routed += [(partition_for(target, self.partitions), ["a", target, new.revision, records, spec])
                   for target, records in sorted(moved.items())]
