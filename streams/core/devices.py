"""Streams core, step 1 (devices): who was signed in on a device when an anonymous event happened.

A family tablet is used by several people; an event that carries only the tablet's anonymous id
belongs to the person signed in on it at that moment, whatever order the events arrive in. So a
device keeps its sign-ins ordered by event time (a timeline), and an anonymous event belongs to
the person of the latest sign-in at or before it within the map's window
(`identity.sign_in_window_hours`), otherwise to the device's own customer. When evidence arrives
late, the identity stage says which customers may hold events that now belong elsewhere, with a
`Spec` of the new attribution; stage 3 (or the pure pipeline) re-attributes their events by it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import Any

from schemas.ids import customer_id_for
from streams.core.records import IDS, Record, T

DEVICE_KIND = "anonymous_id"
DEVICE_PREFIX = DEVICE_KIND + ":"
Edge = list[Any]  # [event ms, event id, identifier a (stronger), identifier b, rule]
Timeline = list[list[Any]]  # [[event ms, event id, person identifier], ...] in event-time order
# {"o": {identifier: customer}, "d": {device: Timeline}, "w": window ms, "r": {gone customer: successor},
#  "s": the move's number (a newer move supersedes an older one)}
Spec = dict[str, Any]
Owner = Callable[[str], str]


def is_device(identifier: str) -> bool:
    return identifier.startswith(DEVICE_PREFIX)


def device_edge(edge: Edge) -> tuple[str, str] | None:
    """(device, person) when the edge is a sign-in on a device, else None."""
    a, b = edge[2], edge[3]
    if is_device(a) != is_device(b):
        return (a, b) if is_device(a) else (b, a)
    return None


def timeline_of(device: str, edges: Iterable[Edge]) -> Timeline:
    """The device's sign-ins (every one, flagged or linked) in event-time order."""
    if not device.startswith(DEVICE_PREFIX):
        return []
    rows = []
    for edge in edges:  # the edges with the device on one side and a person on the other
        if edge[2] == device:
            person = edge[3]
        elif edge[3] == device:
            person = edge[2]
        else:
            continue
        if not person.startswith(DEVICE_PREFIX):
            rows.append([edge[0], edge[1], person])
    rows.sort()
    return rows


def signed_in(timeline: Timeline, at_ms: int, window_ms: int) -> str | None:
    """The person identifier of the latest sign-in at or before `at_ms`, within the window."""
    index = bisect.bisect_right(timeline, at_ms, key=lambda row: row[0])
    if index == 0:
        return None
    when, _, person = timeline[index - 1]
    return str(person) if at_ms - when <= window_ms else None


def holder(device: str, timeline: Timeline, at_ms: int, window_ms: int, owner: Owner) -> str:
    """The customer an anonymous event on `device` at `at_ms` belongs to."""
    person = signed_in(timeline, at_ms, window_ms) if timeline else None
    return owner(person) if person is not None else owner(device)


def changed_holders(device: str, before: Timeline, after: Timeline, window_ms: int, owner_before: Owner,
                    owner_after: Owner) -> set[tuple[str, str]]:
    """(old customer, new customer) wherever the device's attribution differs between the two.

    Attribution is constant between sign-ins and window ends, so comparing it at those moments
    (and before the first) covers every moment.
    """
    moments = {0}
    for when, _, _ in [*before, *after]:
        moments |= {when, when + window_ms + 1}
    pairs = set()
    for moment in moments:
        old = holder(device, before, moment, window_ms, owner_before)
        new = holder(device, after, moment, window_ms, owner_after)
        if old != new:
            pairs.add((old, new))
    return pairs


def changed_owners(device: str, timeline: Timeline, window_ms: int, owner_before: Owner,
                   owner_after: Owner) -> set[tuple[str, str]]:
    """`changed_holders` when the sign-ins stayed the same and only their owners may differ: who
    holds each moment is the same identifier before and after, so each is looked up once."""
    moments = {0}
    for when, _, _ in timeline:
        moments |= {when, when + window_ms + 1}
    holders = {signed_in(timeline, moment, window_ms) or device for moment in moments} if timeline else {device}
    pairs = {(owner_before(h), owner_after(h)) for h in holders}
    return {(old, new) for old, new in pairs if old != new}


def spec_owner(spec: Spec) -> Owner:
    owners: dict[str, str] = spec["o"]
    return lambda identifier: owners.get(identifier) or customer_id_for(identifier)


def attributed(record: Record, spec: Spec, owner: Owner) -> str | None:
    """The customer the spec gives this record, or None when the spec does not concern it."""
    strongest = record[IDS][0]
    timeline = spec["d"].get(strongest)
    if timeline is not None:
        return holder(strongest, timeline, record[T], spec["w"], owner)
    if strongest in spec["o"]:
        return owner(strongest)
    return None


def reattribute(records: list[Record], spec: Spec, customer_id: str) -> tuple[list[Record], dict[str, list[Record]]]:
    """A customer's records split into those it keeps and those that now belong elsewhere."""
    owner = spec_owner(spec)
    kept: list[Record] = []
    moved: dict[str, list[Record]] = {}
    for record in records:
        target = attributed(record, spec, owner)
        if target is None or target == customer_id:
            kept.append(record)
        else:
            moved.setdefault(target, []).append(record)
    return kept, moved


def successor(spec: Spec, customer_id: str) -> str:
    """The customer that takes over from this one when late evidence leaves it with no identifier."""
    return str(spec.get("r", {}).get(customer_id, ""))


def newest(one: Spec | None, other: Spec | None) -> Spec | None:
    if one is None or (other is not None and other["s"] > one["s"]):
        return other
    return one
