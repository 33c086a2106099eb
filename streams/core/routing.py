"""Streams core: the work messages between the worker's stages, and how each stage handles them.

Stage 2 (identity, one partition) sends per customer partition one message per batch: a list of
commands, in order:
- `["e", customer_id, record]`            stitch this event into the customer
- `["m", absorbed_id, survivor_id]`       the absorbed customer merges into the survivor
- `["a", survivor_id, revision, records]` the absorbed customer's events, for the survivor
Stage 3 handles them against the customers' states; an absorbed customer keeps a tombstone
pointing at its survivor, so work that arrives for it later follows the merge.
"""

from __future__ import annotations

import zlib
from typing import Any

from schemas.journeymap import JourneyMap
from streams.core.identity import IdentityGraph, Sighting
from streams.core.layout import Output
from streams.core.records import CHANNEL, EVENT_ID, EVENT_TYPE, IDS, Record, T, from_ms
from streams.core.stitch import CustomerState, absorb, apply, retract

Command = list[Any]
Routed = list[tuple[int, Command]]  # (partition, command)


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


def handle(command: Command, states: dict[str, CustomerState], journey_map: JourneyMap,
           partitions: int) -> tuple[list[Output], Routed]:
    """Stage 3: one command against the partition's customer states (loaded in `states`)."""
    kind, customer_id = command[0], command[1]
    state = states.get(customer_id) or CustomerState()
    if state.merged_into and kind != "m":
        follow = [kind, state.merged_into, *command[2:]]
        return [], [(partition_for(state.merged_into, partitions), follow)]
    if kind == "e":
        states[customer_id], out = apply(state, command[2], customer_id, journey_map)
        return out, []
    if kind == "a":
        states[customer_id], out = absorb(state, command[3], command[2], customer_id, journey_map)
        return out, []
    survivor = command[2]
    gone, out, records = retract(state, customer_id, journey_map)
    gone.merged_into = survivor
    states[customer_id] = gone
    return out, [(partition_for(survivor, partitions), ["a", survivor, gone.revision, records])]
