"""Producers stage, pure core of the web collector: bearer tokens, batch bodies, answers.

The HTTP adapter (producers.collector) only reads the request and sends what these functions
decide. Everything here is data in, data out: a body becomes a list of event payloads or a
refusal with its HTTP status and reason; per-event results become the 202 answer.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import SecretStr

from schemas.events import TouchpointEventBase
from schemas.validation import Problem, Rejection, reject

BEARER = "bearer "


@dataclass(frozen=True)
class BodyRefused:
    """A request body refused as a whole: the HTTP status and why."""

    status: int
    reason: str


def authorized(header: str | None, tokens: Sequence[SecretStr]) -> bool:
    """True when `Authorization: Bearer <token>` names a configured token (constant time)."""
    if not header or header[: len(BEARER)].lower() != BEARER:
        return False
    offered = header[len(BEARER):].strip().encode("utf-8", "surrogateescape")
    matches = [hmac.compare_digest(offered, t.get_secret_value().encode("utf-8")) for t in tokens]
    return any(matches)  # every token compared: timing does not tell which one nearly matched


def parse_batch(body: bytes, max_events: int) -> list[Any] | BodyRefused:
    """A body -> the list of event payloads it carries, or why it was refused."""
    document = parse_document(body)
    return document if isinstance(document, BodyRefused) else events_of(document, max_events)


def parse_document(body: bytes) -> Any:
    """A body -> its JSON document, or a BodyRefused saying why it is not one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        return BodyRefused(400, f"body is not UTF-8: invalid byte at position {err.start}")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as err:
        return BodyRefused(400, f"body is not JSON: {err}")


def events_of(document: Any, max_events: int) -> list[Any] | BodyRefused:
    """A JSON document -> the events it carries (an array, or {"events": [...]}), or why not."""
    events = document.get("events") if isinstance(document, dict) else document
    if not isinstance(events, list):
        return BodyRefused(400, 'expected a JSON array of events, or {"events": [...]}')
    if not events:
        return BodyRefused(400, "the batch holds no events")
    if len(events) > max_events:
        return BodyRefused(413, f"the batch holds {len(events)} events; the limit is {max_events}")
    return events


def body_rejection(body: bytes, refusal: BodyRefused, source: str) -> Rejection:
    """A refused body as a rejection (its dead letter keeps a large body truncated: schemas.deadletters)."""
    return reject(body, source, [Problem("", refusal.reason)])


def accepted_answer(results: Sequence[TouchpointEventBase | Rejection]) -> dict[str, Any]:
    """The 202 body: counts, and each rejected event's index and reason."""
    errors = [{"index": i, "reason": r.reason} for i, r in enumerate(results) if isinstance(r, Rejection)]
    return {"accepted": len(results) - len(errors), "rejected": len(errors), "errors": errors}
