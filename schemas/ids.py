"""The contract's deterministic ids: every stage that names a customer, a journey, a step or a friction
computes the same id from the same facts, so a replay writes the same rows and the simulator's ground
truth can be compared with the warehouse.

Each id is a prefix and the first 16 hex characters of SHA-256 of the facts that make it (`short_hash`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SHORT_HASH_CHARS = 16


def short_hash(text: str) -> str:
    """First 16 hex characters of SHA-256: the deterministic ids of the specification."""
    return hashlib.sha256(text.encode()).hexdigest()[:SHORT_HASH_CHARS]


def customer_id_for(identifier: str) -> str:
    """`cust-` + the short hash of the identifier key (`kind:value`) that created the customer."""
    return "cust-" + short_hash(identifier)


def journey_id_for(customer_id: str, first_event_id: str) -> str:
    """A journey is named by its customer and its first event."""
    return "j-" + short_hash(f"{customer_id}/{first_event_id}")


def step_id_for(event_id: str) -> str:
    """A step is its touchpoint event: one event is one step, wherever it is placed."""
    return event_id


def friction_id_for(rule: str, evidence: Iterable[str]) -> str:
    """A friction is named by its rule and the events that prove it (in any order)."""
    return "f-" + short_hash(f"{rule}/{','.join(sorted(evidence))}")


def link_id_for(kind: str, rule: str, evidence_event_id: str, identifiers: Iterable[str]) -> str:
    """An identity-graph record is named by what happened, on which rule, by which event, to which keys."""
    return "l-" + short_hash(f"{kind}/{rule}/{evidence_event_id}/{','.join(identifiers)}")
