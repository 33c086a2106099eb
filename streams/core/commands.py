"""Streams core: the typed commands stage 2 (identity) sends stage 3 (stitching), and how stage 2 makes them.

Every command names the customer it is for first (`customer_id`): the adapter routes it to that
customer's partition of the customers topic (streams.work) and writes it in the wire format of the
work messages (streams.codecs), which is unchanged since the commands were plain lists.
- `Stitch`   stitch this event into the customer
- `Forward`  an event forwarded by a tombstone (an absorbed or moved-away customer), with the move
             (spec) it was sent on
- `Merge`    the customer is absorbed into the survivor
- `Absorb`   an absorbed (or moved-away) customer's events handed to this customer, with the
             revision they must pass and the move they were sent on, if any
- `Move`     late identity evidence: the customer's events that the spec (streams.core.devices)
             gives to others move to them (as `Absorb` hand-overs that carry the spec)
A customer keeps the newest move it has seen and sends on what a newer one gives to others, so
work crossing partitions in any order ends where the newest evidence says.
"""

from __future__ import annotations

from typing import NamedTuple

from schemas.outputs import IdentityLink
from streams.core.devices import Spec
from streams.core.identity import IdentityGraph, Sighting
from streams.core.records import CHANNEL, EVENT_ID, EVENT_TYPE, IDS, Record, T


class Stitch(NamedTuple):
    customer_id: str
    record: Record


class Forward(NamedTuple):
    customer_id: str
    record: Record
    spec: Spec | None


class Merge(NamedTuple):
    customer_id: str  # the absorbed customer
    survivor: str


class Absorb(NamedTuple):
    customer_id: str
    revision: int
    records: list[Record]
    spec: Spec | None = None


class Move(NamedTuple):
    customer_id: str
    spec: Spec


Command = Stitch | Forward | Merge | Absorb | Move


def resolve(graph: IdentityGraph, records: list[Record]) -> tuple[list[Command], list[IdentityLink]]:
    """Stage 2: resolve each record in order; the commands for stage 3 and the identity-link records."""
    commands: list[Command] = []
    links: list[IdentityLink] = []
    for record in records:
        resolution = graph.resolve(Sighting(record[EVENT_ID], record[CHANNEL], record[EVENT_TYPE],
                                            tuple(record[IDS]), record[T]))
        if resolution.links:  # most events link, merge and move nothing: no list made for them
            links += resolution.links
        if resolution.merges:
            commands += [Merge(absorbed, survivor) for absorbed, survivor in resolution.merges]
        if resolution.moves:
            commands += [Move(customer_id, spec) for customer_id, spec in resolution.moves]
        commands.append(Stitch(resolution.customer_id, record))
    return commands, links
