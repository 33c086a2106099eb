"""The touchpoint event contract: the one shape every channel sends and every stage reads.

A touchpoint event says who (identifiers, never raw PII), which channel and touchpoint, what
happened (event type), when (event time, timezone-aware), and the channel's typed measures.
Models are frozen pydantic v2 models; the JSON on the wire is what `model_dump_json` writes.

Versioning: `SCHEMA_VERSION` is MAJOR.MINOR. A compatible addition (a new optional field, a new
event type) bumps MINOR; anything that could reject or misread an old document bumps MAJOR.
Readers accept every MINOR of their MAJOR.

Channels are registered in `schemas.channels`; this module holds the shared parts.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

SCHEMA_VERSION = "1.1"  # 1.1: context dimensions; web error, chat, wishlist, review, screen events
SCHEMA_MAJOR = SCHEMA_VERSION.split(".")[0]
EVENT_ID_NAMESPACE = uuid.UUID("6f1c7a52-3d0e-4c59-9d1e-6a8f2b9e4c11")
MAX_FUTURE_SKEW = timedelta(hours=1)
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_CONTEXT_ENTRIES = 32
# Validation context key: (when the edge received the event, how far a sender's received_time may
# run ahead of it). Set by schemas.validation; events built without it keep their received_time.
EDGE_RECEIVED = "edge_received"

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", max_length=80)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Hash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# Ids travel in clear and are never scrubbed (they identify), so one that is an e-mail address or
# an international phone number would carry PII into Kafka: refused (hashes go in email_hash/phone_hash).
# A bare run of digits stays an id: loyalty, order and card numbers are far more common than phones.
_EMAIL_IN_ID = re.compile(r"[\w.+\-]+(?:@|%40)[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}", re.IGNORECASE)
_PHONE_IN_ID = re.compile(r"(?:^|[:=])(?:\+|%2B)\(?\d(?:[\-.()/]{0,2}\d){7,14}$", re.IGNORECASE)


def _no_contact_details(value: str) -> str:
    if ("@" in value or "%40" in value) and _EMAIL_IN_ID.search(value):
        raise ValueError("an id cannot hold an e-mail address (ids travel in clear): send the address "
                         "as identifiers.email_hash, hashed by the PII recipe, or an opaque id")
    if ("+" in value or "%2" in value) and _PHONE_IN_ID.search(value):
        raise ValueError("an id cannot hold a phone number (ids travel in clear): send the number "
                         "as identifiers.phone_hash, hashed by the PII recipe, or an opaque id")
    return value


OpaqueId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$"),
                     AfterValidator(_no_contact_details)]
Seconds = Annotated[float, Field(ge=0, le=365 * 86400)]
Money = Annotated[float, Field(ge=0, le=10_000_000)]

IDENTIFIER_KINDS = ("crm_id", "loyalty_id", "email_hash", "phone_hash", "anonymous_id")
IdentifierKind = Literal["crm_id", "loyalty_id", "email_hash", "phone_hash", "anonymous_id"]


class Contract(BaseModel):
    """Base of every contract model: frozen, unknown fields refused, no NaN or Infinity."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Identifiers(Contract):
    """Who the customer is, as far as this source knows. At least one identifier is required.

    E-mail addresses and phone numbers travel only as keyed hashes (`schemas.pii`).
    """

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": [kind], "properties": {kind: {"type": "string"}}}
        for kind in ("crm_id", "loyalty_id", "email_hash", "phone_hash", "anonymous_id")]})

    anonymous_id: OpaqueId | None = Field(None, description="Cookie or device id of a web visitor.")
    email_hash: Hash | None = Field(None, description="HMAC-SHA256 of the normalised e-mail address.")
    phone_hash: Hash | None = Field(None, description="HMAC-SHA256 of the E.164 phone number.")
    loyalty_id: OpaqueId | None = Field(None, description="Loyalty-card number.")
    crm_id: OpaqueId | None = Field(None, description="Customer id in the CRM.")

    @model_validator(mode="after")
    def _at_least_one(self) -> Identifiers:
        if not any(getattr(self, kind) for kind in IDENTIFIER_KINDS):
            raise ValueError("at least one customer identifier is required: " + ", ".join(IDENTIFIER_KINDS))
        return self

    def items(self) -> list[tuple[str, str]]:
        """(kind, value) pairs present, strongest identifier first."""
        return [(kind, value) for kind in IDENTIFIER_KINDS if (value := getattr(self, kind))]

    def keys(self) -> list[str]:
        """Identifiers as graph keys, `kind:value`, strongest first."""
        return [f"{kind}:{value}" for kind, value in self.items()]

    def primary(self) -> str:
        """The strongest identifier, `kind:value`: the Kafka key that keeps a customer's events ordered."""
        return self.keys()[0]


class Feedback(Contract):
    """A survey answer or comment, on any channel, about one touchpoint."""

    csat: int | None = Field(None, ge=1, le=5, description="Customer satisfaction, 1 (very bad) to 5 (very good).")
    nps: int | None = Field(None, ge=0, le=10, description="Likelihood to recommend, 0 to 10.")
    comment: str | None = Field(None, max_length=4000, description="Free text, as written by the customer.")
    about_touchpoint: Name | None = Field(None, description="The touchpoint the feedback is about.")

    @model_validator(mode="after")
    def _says_something(self) -> Feedback:
        if self.csat is None and self.nps is None and not self.comment:
            raise ValueError("feedback needs at least one of csat, nps or comment")
        return self


class Measures(Contract):
    """Base of each channel's typed measures."""


class TouchpointEventBase(Contract):
    """The envelope every channel shares. Concrete per-channel models live in `schemas.channels`."""

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        "", description="Unique id. Derived from the source's own id where it has one, else a random UUID.")
    source_id: OpaqueId | None = Field(None, description="The source system's own id for this event.")
    schema_version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+$")] = SCHEMA_VERSION
    event_time: AwareDatetime = Field(description="When it happened, with a time zone.")
    received_time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC),
                                         description="When the edge received it.")
    channel: Name
    touchpoint: Name = Field(description="Touchpoint id as declared in the journey map, e.g. web.checkout.")
    event_type: Name
    identifiers: Identifiers
    segment: Name | None = Field(None, description="Customer segment or persona, where the source knows it.")
    context: Annotated[dict[Name, ShortText], Field(max_length=MAX_CONTEXT_ENTRIES)] = Field(
        default_factory=dict, description="Context dimensions declared in the journey map (device_type, "
                                           "utm_source, store_region...): name -> value.")
    feedback: Feedback | None = None

    @model_validator(mode="before")
    @classmethod
    def _derive_event_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("event_id"):
            data = dict(data)
            source_id, channel = data.get("source_id"), data.get("channel")
            data["event_id"] = derive_event_id(channel, source_id)
        return data

    @model_validator(mode="after")
    def _check_envelope(self, info: ValidationInfo) -> TouchpointEventBase:
        edge = info.context.get(EDGE_RECEIVED) if isinstance(info.context, dict) else None
        if edge is not None:
            self._take_edge_time(*edge)
        major = self.schema_version.split(".")[0]
        if major != SCHEMA_MAJOR:
            raise ValueError(f"schema_version {self.schema_version} is not readable: this reader speaks {SCHEMA_MAJOR}.x")
        if self.event_time < EARLIEST_EVENT_TIME:
            raise ValueError(f"event_time {self.event_time.isoformat()} is before {EARLIEST_EVENT_TIME.year}")
        if self.event_time > self.received_time + MAX_FUTURE_SKEW:
            raise ValueError(f"event_time {self.event_time.isoformat()} is in the future "
                             f"(received {self.received_time.isoformat()})")
        if self.event_type == "feedback" and self.feedback is None:
            raise ValueError("a feedback event needs a feedback object")
        return self

    def _take_edge_time(self, received: datetime, max_skew: timedelta) -> None:
        """The edge owns received_time: a sender's value is kept only up to `max_skew` ahead of the
        edge's clock (an earlier one is kept: imports and replays of history); else it is the edge's."""
        if "received_time" not in self.model_fields_set or self.received_time > received + max_skew:
            object.__setattr__(self, "received_time", received)  # still being built: frozen from here on
            self.model_fields_set.add("received_time")


def derive_event_id(channel: Any, source_id: Any) -> str:
    """Deterministic id from the source's own id (so a redelivery is a duplicate), else random."""
    if isinstance(source_id, str) and source_id and isinstance(channel, str):
        return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{channel}/{source_id}"))
    return str(uuid.uuid4())
