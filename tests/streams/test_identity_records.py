"""The identity graph builds its audit records without validating them (schemas.trusted, for cost):
each one must be exactly what pydantic's validation builds from the same values, for every kind
of decision (link, merge, shared device, cap reached, move).
"""

from __future__ import annotations

import random
from collections import Counter

from schemas.outputs import IdentityLink
from streams.core.commands import resolve
from streams.core.identity import IdentityGraph
from streams.core.records import record_of
from tests.streams.test_identity_order import MAP, SMALL_CAP, interleaved, partitions_of, scenario_events

KINDS = ["sign_in", "sign_in", "view", "view", "view", "purchase", "call", "reply"]


def _links(seed: int) -> list[IdentityLink]:
    """The audit records of a random household, read out of event-time order in small batches."""
    rng = random.Random(seed)
    drawn = [(rng.choice(KINDS), rng.randint(0, 2), rng.randint(0, 5), rng.randint(0, 36 * 60))
             for _ in range(rng.randint(3, 30))]
    journey_map = SMALL_CAP if seed % 2 else MAP
    records = [record_of(e, journey_map) for e in interleaved(partitions_of(scenario_events(drawn), rng), rng)]
    graph = IdentityGraph(journey_map, {}, {}, {}, {})
    links: list[IdentityLink] = []
    for start in range(0, len(records), 4):
        links += resolve(graph, records[start:start + 4])[1]
    return links


def test_every_audit_record_is_what_validation_builds() -> None:
    kinds: Counter[str] = Counter()
    for seed in range(80):
        for link in _links(seed):
            validated = IdentityLink.model_validate(link.model_dump())
            assert validated == link, link
            assert validated.model_dump_json() == link.model_dump_json()
            assert type(link.identifiers) is tuple and link.event_time.tzinfo is not None
            kinds[link.kind] += 1
    assert {"link", "merge", "shared_device", "cap_reached", "move"} <= set(kinds), kinds
