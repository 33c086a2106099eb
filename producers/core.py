"""Producers stage, pure core: what every channel adapter does to a record before Kafka sees it.

Raw e-mail addresses and phone numbers become keyed hashes here (privacy at the edge), events
become a key and a value, and the per-channel counts that the health figures show are kept
(rejections become dead letters in the contract: schemas.deadletters). No Kafka import: data in, data out, unit-testable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.channels import channels
from schemas.deadletters import rejection_kind
from schemas.events import Identifiers, TouchpointEventBase
from schemas.pii import hash_email, hash_phone
from schemas.validation import Rejection


def hash_identifiers(secret: bytes, *, email: str | None = None, phone: str | None = None,
                         phone_region: str = "GB", **others: str | None) -> Identifiers:
    """Identifiers from raw values: e-mail and phone are hashed (raw values never leave here).

    Raises schemas.pii.PiiError (a ValueError) for a value that cannot be normalised, and
    pydantic's ValidationError when no identifier is left.
    """
    values: dict[str, Any] = {k: v for k, v in others.items() if v}
    if email:
        values["email_hash"] = hash_email(email, secret)
    if phone:
        values["phone_hash"] = hash_phone(phone, secret, phone_region)
    return Identifiers(**values)


def event_key(event: TouchpointEventBase) -> bytes:
    """The Kafka key: the strongest identifier, so one customer's events stay in one partition."""
    return event.identifiers.primary().encode("utf-8")


def event_value(event: TouchpointEventBase) -> bytes:
    return event.model_dump_json().encode("utf-8")


def channel_hint(payload: bytes | str | dict[str, Any]) -> str | None:
    """The channel a rejected dict payload claimed, when it is a registered one (counts and dead
    letters are keyed by it: a name the input chooses must not become a key)."""
    if isinstance(payload, dict) and isinstance(payload.get("channel"), str) and payload["channel"] in channels():
        return str(payload["channel"])
    return None


@dataclass
class PublishCounts:
    """Published and rejected events per channel, for health reporting.

    Keyed only by registered channels and the closed set of rejection kinds, never by a name the
    input chose: the counts stay small whatever is sent (an unknown channel counts as "unknown")."""

    published: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    since: datetime = field(default_factory=lambda: datetime.now(UTC))

    def count_published(self, channel: str, n: int = 1) -> None:
        self.published[channel] += n

    def count_rejected(self, rejection: Rejection, channel: str | None) -> None:
        self.rejected[channel or "unknown"] += 1
        self.rejected_by_reason[rejection_kind(rejection)] += 1

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view: totals and per-channel counts."""
        return {"published": dict(self.published), "rejected": dict(self.rejected),
                "rejected_by_reason": dict(self.rejected_by_reason),
                "published_total": sum(self.published.values()),
                "rejected_total": sum(self.rejected.values()), "since": self.since.isoformat()}
