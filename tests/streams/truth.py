"""Compare the stream processor's current output records with the simulator's ground truth."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from producers.simulator.truth import GroundTruth

Records = dict[str, dict[str, Any]]  # the current view: id -> newest record (streams.core.view.current)


def customers(steps: Records) -> set[frozenset[str]]:
    """The partition of event ids into customers."""
    by_customer: dict[str, set[str]] = defaultdict(set)
    for step in steps.values():
        by_customer[step["customer_id"]].add(step["event"]["event_id"])
    return {frozenset(ids) for ids in by_customer.values()}


def journeys(steps: Records, snapshots: Records) -> set[tuple[Any, ...]]:
    """(event ids in order, phases reached, furthest phase, converted) per live journey."""
    ordered: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for step in steps.values():
        if not step["late"]:
            ordered[step["journey_id"]].append((step["step_index"], step["event"]["event_id"]))
    return {(tuple(e for _, e in sorted(ordered[jid])), tuple(sorted(j["phase_first_at"])), j["furthest_phase"],
             j["converted"]) for jid, j in snapshots.items()}


def friction(records: Records) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(f["friction_id"], f["rule"], tuple(sorted(f["evidence"]))) for f in records.values()}


def truth_customers(truth: GroundTruth) -> set[frozenset[str]]:
    return {frozenset(p.event_ids) for p in truth.persons}


def truth_journeys(truth: GroundTruth) -> set[tuple[Any, ...]]:
    return {(j.event_ids, tuple(sorted(j.phases_reached)), j.furthest_phase, j.converted)
            for p in truth.persons for j in p.journeys}


def truth_friction(truth: GroundTruth) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(f.friction_id, f.rule, tuple(sorted(f.evidence))) for p in truth.persons for f in p.friction}
