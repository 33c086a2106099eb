"""Streams core, step 1 (late evidence): fold a late edge's component again, in event time.

Evidence read after newer evidence (another partition, a late store file) may change what the
newer evidence decided: which person owns a device, which link a guard refused. The customers
must be those of the fold in event time, so the component the late edge touches (every identifier
reachable through edges, refused ones too) is folded again from scratch, its new grouping gets
customer ids (the ones its identifiers had where possible), and the customers that may hold
events now belonging elsewhere get a move: a `Spec` by which their events are attributed again.
The audit trail says what moved (kind `move`, from `merged_customer_id` to `customer_id`) and
which late evidence moved it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from streams.core.devices import (
    DEVICE_PREFIX,
    Edge,
    Spec,
    Timeline,
    changed_holders,
    changed_owners,
    customer_id_for,
    device_edge,
    is_device,
    timeline_of,
)
from streams.core.identity_fold import Fold, GraphState, Resolution, record

Grouping = dict[str, str | None]  # identifier -> customer (None: not owned)


def replay(graph: GraphState, late: Edge, result: Resolution) -> None:
    """Fold the late edge's component again and move what now belongs elsewhere."""
    identifiers, edges = component(graph, late)
    timelines = {i: timeline_of(i, graph.evidence.get(i, [])) for i in identifiers if i.startswith(DEVICE_PREFIX)}
    old: Grouping = {i: graph.owner.get(i) for i in identifiers}
    scratch = Fold(graph.policy, {}, {}, {})
    scratch.late_event = late[1]
    scratch.notes = []  # made records below, once the customer ids they name are known
    decisions = Resolution()
    late_key = late[:4]
    for edge in edges:  # recorded again: the late edge's decision, and the refusals after it
        scratch.quiet = edge[:4] < late_key
        scratch.step(edge, decisions)
    founders = {i: customer_id_for(i) for i in identifiers}  # the id each identifier would found
    new = _labelled(graph, identifiers, scratch.owner, scratch.members, old, late, founders)
    _own_attributed(graph, timelines, new)
    names = {founders[i]: new[i] for i in identifiers} | {scratch.owner[i]: new[i] for i in scratch.owner}
    for kind, customer, merged, keys, rule, edge in scratch.notes:
        result.links.append(record(kind, names.get(customer) or customer, names.get(merged or "") or merged,
                                   keys, rule, edge))
    moves = _moves(graph, timelines, old, new, late)
    for old_customer, new_customer, identifier in moves:
        result.links.append(record("move", new_customer, old_customer, (identifier,), late[4], late))
    _store(graph, identifiers, old, new, scratch.devices)
    if moves:
        spec = _spec(graph, identifiers, successors(old, new), timelines)
        result.moves += [(customer, spec) for customer in sorted({m[0] for m in moves})]
    else:
        graph.next_seq()  # its number is used up all the same: later moves keep the numbers they always had


def component_spec(graph: GraphState, edge: Edge) -> Spec:
    """The attribution of the whole component of the edge, as it stands: a newer move's spec
    always covers every identifier an older one of the same component did (components only grow),
    so stage 3 can keep the newest alone."""
    identifiers, _ = component(graph, edge)
    return _spec(graph, identifiers, {})


def _spec(graph: GraphState, identifiers: list[str], gone: dict[str, str],
          timelines: dict[str, Timeline] | None = None) -> Spec:
    owners = {i: c for i in identifiers if (c := graph.owner.get(i)) is not None}
    if timelines is None:
        timelines = {i: timeline_of(i, graph.evidence.get(i, [])) for i in identifiers if is_device(i)}
    return {"o": owners, "d": timelines, "w": graph.window_ms, "r": gone, "s": graph.next_seq()}


def newer_in_component(graph: GraphState, late: Edge) -> bool:
    """Is any evidence reachable from the edge newer than it? (`component`'s walk, stopping at the
    first such edge: most late edges are late only against other components.)"""
    when, key = late[0], late[:4]
    seen = {late[2], late[3]}
    stack = [late[2], late[3]]
    while stack:
        current = stack.pop()
        for edge in graph.evidence.get(current, ()):
            if edge[0] > when or (edge[0] == when and edge[:4] > key):
                return True
            other = edge[3] if edge[2] == current else edge[2]  # an edge is kept under both its identifiers
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return False


def component(graph: GraphState, late: Edge) -> tuple[list[str], list[Edge]]:
    """Every identifier reachable from the edge through evidence, and their edges in event time."""
    seen = {late[2], late[3]}
    stack = [late[2], late[3]]
    edges: dict[tuple[object, ...], Edge] = {}
    while stack:
        current = stack.pop()
        for edge in graph.evidence.get(current, ()):
            edges[edge[0], edge[1], edge[2], edge[3]] = edge
            other = edge[3] if edge[2] == current else edge[2]
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return sorted(seen), [edges[key] for key in sorted(edges)]


def _labelled(graph: GraphState, identifiers: list[str], owner: Mapping[str, str], members: Mapping[str, list[str]],
              old: Grouping, late: Edge, founders: Mapping[str, str]) -> Grouping:
    """Customer ids for the new groups, keeping the old ones where possible (work in flight for
    them still lands right): first the id a group's own identifier founded, then the id most of
    the group had, then the fold's own id when it was never given out, else a new one; an
    identifier alone and never owned stays so."""
    groups: list[tuple[str | None, list[str]]] = [(label, ids) for label, ids in members.items() if ids]
    groups += [(None, [i]) for i in identifiers if i not in owner]
    groups.sort(key=lambda g: (-len(g[1]), min(g[1])))
    taken: set[str] = set()
    chosen: dict[int, str | None] = {}
    for n, (_, ids) in enumerate(groups):
        founded = sorted({founders[i] for i in ids} & {old[i] for i in ids if old[i]} - taken)
        if founded:
            chosen[n] = founded[0]
            taken.add(founded[0])
    for n, (label, ids) in enumerate(groups):
        if n in chosen:
            continue
        had: dict[str, int] = {}  # a plain count: groups are small, a Counter costs more than it counts
        for i in ids:
            customer = old[i]
            if customer is not None and customer not in taken:
                had[customer] = had.get(customer, 0) + 1
        choice = min(had, key=lambda c: (-had[c], c)) if had else None
        if choice is None and label is not None and label not in taken and label not in graph.members:
            choice = label
        if choice is None and (len(ids) > 1 or any(old[i] for i in ids)):
            choice = _fresh(graph, min(ids), taken, late)
        if choice is not None:
            taken.add(choice)
        chosen[n] = choice
    return {i: chosen[n] for n, (_, ids) in enumerate(groups) for i in ids}


def successors(old: Grouping, new: Grouping) -> dict[str, str]:
    """Each customer id that is gone -> the customer most of its identifiers went to (work still
    in flight for it follows there, as after a merge)."""
    kept = {c for c in new.values() if c is not None}
    went: dict[str, Counter[str]] = {}
    for identifier, customer in old.items():
        if customer is not None and customer not in kept and new[identifier] is not None:
            went.setdefault(customer, Counter())[new[identifier] or ""] += 1
    return {c: min(to, key=lambda t: (-to[t], t)) for c, to in went.items()}


def _own_attributed(graph: GraphState, timelines: dict[str, Timeline], new: Grouping) -> None:
    """Devices and the people signed in on them get a customer: anonymous events go to one."""
    needed = set(timelines) | {row[2] for timeline in timelines.values() for row in timeline}
    used = {c for c in new.values() if c is not None}
    for identifier in sorted(needed):
        if new.get(identifier) is None:
            customer, n = customer_id_for(identifier), 0
            while customer in graph.members or customer in used:
                n += 1
                customer = customer_id_for(f"{identifier}/{n}")
            new[identifier] = customer
            used.add(customer)


def _fresh(graph: GraphState, identifier: str, taken: set[str], late: Edge) -> str:
    n = 0
    customer = customer_id_for(f"{identifier}/{late[1]}")
    while customer in graph.members or customer in taken:
        n += 1
        customer = customer_id_for(f"{identifier}/{late[1]}/{n}")
    return customer


def _moves(graph: GraphState, timelines: dict[str, Timeline], old: Grouping, new: Grouping,
           late: Edge) -> list[tuple[str, str, str]]:
    """(from, to, what): identifiers that changed customer, and devices whose sign-ins now
    attribute some moment to another customer."""
    moves = [(old_c, new[i] or "", i) for i, old_c in old.items() if old_c is not None and old_c != new[i]]

    def before_owner(identifier: str) -> str:
        return old.get(identifier) or ""  # an identifier never owned holds no events

    def after_owner(identifier: str) -> str:
        return new.get(identifier) or customer_id_for(identifier)

    late_sign_in = device_edge(late)
    for device, after in timelines.items():
        if late_sign_in is not None and late_sign_in[0] == device:
            before = list(after)
            before.remove([late[0], late[1], late_sign_in[1]])  # the device as it was without the late sign-in
            changed = changed_holders(device, before, after, graph.window_ms, before_owner, after_owner)
        elif all(not old.get(i) or old[i] == after_owner(i) for i in (device, *(row[2] for row in after))):
            continue  # the same sign-ins, and no one who may hold its events changed customer
        else:
            changed = changed_owners(device, after, graph.window_ms, before_owner, after_owner)
        for old_c, new_c in changed:
            if old_c:
                moves.append((old_c, new_c, device))
    return sorted(set(moves))


def _store(graph: GraphState, identifiers: list[str], old: Grouping, new: Grouping,
           devices: Mapping[str, list[str]]) -> None:
    """The new grouping into the graph; what did not change is not written (in the worker every
    write is a changelog record)."""
    groups: dict[str, list[str]] = {}
    for identifier in identifiers:
        customer = new[identifier]
        if customer is None:
            if old[identifier] is not None:
                graph.owner.pop(identifier, None)
        else:
            if old[identifier] != customer:
                graph.owner[identifier] = customer
            groups.setdefault(customer, []).append(identifier)
    for customer in {c for c in old.values() if c is not None} - set(groups):
        graph.members[customer] = []  # retired: its events moved, its id is not given out again
    for customer, ids in groups.items():
        if graph.members.get(customer) != ids:
            graph.members[customer] = ids
    for identifier in identifiers:
        if identifier in devices:
            if graph.devices.get(identifier) != devices[identifier]:
                graph.devices[identifier] = devices[identifier]
        elif is_device(identifier) and graph.devices.get(identifier) is not None:  # a get: tables too
            del graph.devices[identifier]
