"""Streams core: the current truth from a stream of versioned output records.

Consumers of the output topics (the warehouse, the end-to-end test) keep the newest version of
each id (schemas.outputs.record_id) and drop what was retracted; this is that rule in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemas.outputs import record_id


def current(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Newest version per id (a later arrival wins a tie), retracted ones removed."""
    newest: dict[str, dict[str, Any]] = {}
    for record in records:
        key = record_id(record)
        if key not in newest or record["version"] >= newest[key]["version"]:
            newest[key] = record
    return {key: r for key, r in newest.items() if not r.get("retracted")}
