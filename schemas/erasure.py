"""The contract of erasure: keyed erasure tokens, the erasure list, and what names whom in a record.

`journeys forget` puts one token per identifier key and customer id of the erased customer on
the erasure list (a compacted topic, schemas' ERASURE_TOPIC). Every stage that writes consults it
before writing: the worker refuses raw events that carry an erased identifier, the sinks drop
output records that name an erased customer, so neither a replay nor a new sink group writes the
customer back. A token is HMAC-SHA256 with the PII secret (the key the producers hash with), so
the list names nobody: it cannot be turned back into ids, nor checked against a guessed list of
short CRM or loyalty ids, without the secret. What names a customer in a record is decided here,
once, by parsed fields and exact values (never substrings): the sinks' screening and the
warehouse's dead-letter search both use `payload_keys`.
"""

from __future__ import annotations

import functools
import hmac
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel

from schemas.events import Identifiers
from schemas.outputs import DeadLetter, FrictionEvent, IdentityLink, JourneySnapshot, JourneyStep

ERASURE_TOPIC = "journeys.erasures"  # compacted, one partition: key = token, value = ErasureEntry JSON
ERASED_PREFIX = "erased:"
TOKEN_DOMAIN = b"journeys-erasure:"
TOKEN_CACHE_ENTRIES = 1 << 16  # a token is never equal to the PII hash of the same text
FORGET_KIND = "forget"  # identity links of this kind are forget audit records: they name only tokens
FORGOTTEN_CUSTOMER = "forgotten"  # customer_id of every forget audit record (identity.links)
CUSTOMER_KIND = "customer_id"
EVENT_KIND = "event_id"
RAW_KINDS = ("email", "phone")  # raw values, as a rejected body may still carry them
IDENTIFIER_KINDS = tuple(Identifiers.model_fields)
CUSTOMER_FIELDS = ("customer_id", "merged_customer_id")
FIELD_KINDS = (*IDENTIFIER_KINDS, *CUSTOMER_FIELDS, EVENT_KIND, *RAW_KINDS)
# In a payload that is not JSON, only a field-like token `"kind": "value"` counts, value whole.
FIELD_TOKEN = re.compile(r'"(' + "|".join(FIELD_KINDS) + r')"\s*:\s*"([^"\\]{1,256})"')


@functools.lru_cache(maxsize=TOKEN_CACHE_ENTRIES)
def erased_token(key: str, secret: bytes) -> str:
    """The erasure token of a `kind:value` key (an identifier key or `customer_id:cust-…`).

    Cached: a writer screens every record once erasures exist, and the same customer ids and
    identifiers come again and again (a few microseconds per HMAC, ~0.1 µs per cache hit).
    """
    return ERASED_PREFIX + hmac.digest(secret, TOKEN_DOMAIN + key.encode("utf-8"), "sha256").hex()


class ErasureEntry(BaseModel):
    """One message of the erasure list: the token only (and when), never the identifier."""

    token: str
    erased_at: str


@dataclass
class ErasureList:
    """The tokens of every erased key, with the secret that makes a key's token; shared and kept current."""

    secret: bytes
    tokens: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def snapshot(self) -> ErasureList:
        """A copy that does not change under the follower (to send to a pool process)."""
        return ErasureList(self.secret, set(self.tokens))

    def refuses(self, keys: Iterable[str]) -> bool:
        """True when any of the `kind:value` keys was erased."""
        return bool(self.tokens) and any(erased_token(key, self.secret) in self.tokens for key in keys)

    def refuses_record(self, record: BaseModel) -> bool:
        """True when an output record names an erased customer (a forget audit record never does)."""
        return bool(self.tokens) and self.refuses(record_keys(record))


def customer_key(customer_id: str) -> str:
    return f"{CUSTOMER_KIND}:{customer_id}"


def record_keys(record: BaseModel) -> set[str]:
    """The keys (`kind:value`) an output record names: its customer ids and identifiers."""
    if isinstance(record, JourneyStep):
        return {customer_key(record.customer_id), *identifier_keys(record.event.identifiers.model_dump())}
    if isinstance(record, JourneySnapshot | FrictionEvent):
        return {customer_key(record.customer_id)}
    if isinstance(record, IdentityLink):
        if record.kind == FORGET_KIND:
            return set()
        customers = {record.customer_id, record.merged_customer_id or ""} - {""}
        return {*(customer_key(c) for c in customers), *record.identifiers}
    if isinstance(record, DeadLetter):
        return payload_keys(record.payload) if record.payload_encoding == "utf-8" else set()
    return set()


def identifier_keys(identifiers: dict[str, Any]) -> set[str]:
    return {f"{kind}:{value}" for kind, value in identifiers.items()
            if kind in IDENTIFIER_KINDS and isinstance(value, str) and value}


def payload_keys(payload: str) -> set[str]:
    """The keys a dead letter's payload names, read as fields: JSON parsed, else field-like tokens only."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {_key(kind, value) for kind, value in FIELD_TOKEN.findall(payload)}
    return {_key(kind, value) for kind, value in _fields(document)}


def _fields(document: Any) -> Iterator[tuple[str, str]]:
    """(field name, string value) of every field named like an identifier, at any depth (no recursion)."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for name, value in item.items():
                if isinstance(value, str) and name in FIELD_KINDS:
                    yield name, value
                elif name == "identifiers" and isinstance(value, list):  # identity links: `kind:value` keys
                    yield from (_split(v) for v in value if isinstance(v, str) and ":" in v)
                else:
                    stack.append(value)


def _split(key: str) -> tuple[str, str]:
    kind, _, value = key.partition(":")
    return kind, value


def _key(kind: str, value: str) -> str:
    if kind in CUSTOMER_FIELDS:
        return customer_key(value)
    if kind == "email":
        return f"email:{value.strip().lower()}"
    return f"{kind}:{value}"
