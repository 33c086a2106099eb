"""The contract's deterministic ids: the same input gives the same id in every stage and process.

Ids are derived, never drawn at random, so a replay or a second worker writes the same rows again
(idempotent writes) and a stage that never saw an id can still compute it: the warehouse's erasure
finds a customer's id from one identifier key exactly as the stream stage created it.
"""

from __future__ import annotations

import hashlib

CUSTOMER_PREFIX = "cust-"


def short_hash(text: str) -> str:
    """First 16 hex characters of SHA-256: the deterministic ids of the specification."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def customer_id_for(identifier: str) -> str:
    """`cust-` + 16 hex of SHA-256 of the identifier key that created the customer."""
    return CUSTOMER_PREFIX + short_hash(identifier)
