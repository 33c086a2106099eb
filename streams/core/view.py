"""Streams core: the current truth from a stream of versioned output records.

Consumers of the output topics (the warehouse, the end-to-end test) keep the newest version of
each id and drop what was retracted; this is that rule in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def record_id(record: dict[str, Any]) -> str:
    """The id a versioned output record is deduplicated on."""
    if "friction_id" in record:
        return str(record["friction_id"])
    if "step_index" in record:
        return str(record["event"]["event_id"])
    return str(record["journey_id"])


def current(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Newest version per id (a later arrival wins a tie), retracted ones removed."""
    newest: dict[str, dict[str, Any]] = {}
    for record in records:
        key = record_id(record)
        if key not in newest or record["version"] >= newest[key]["version"]:
            newest[key] = record
    return {key: r for key, r in newest.items() if not r.get("retracted")}
