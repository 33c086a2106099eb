"""PII at the edge: raw e-mail addresses and phone numbers become keyed hashes here, once.

Every producer calls these functions before anything is published; raw values never reach Kafka.
HMAC-SHA256 with a secret key (the `pii_secret` setting) means a leaked topic cannot be reversed
by hashing a list of known addresses without the key. The recipe is part of the contract: a
backend in any language must produce the same hash for the same person, or the person splits in
two. `HASH_VECTORS` pin it (docs/channels.md and the schema export carry them too); changing the
recipe would change every stored hash, so these vectors must never change.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import phonenumbers

# The hashed message is this prefix + the normalised value, so an address and a number never collide.
EMAIL_PREFIX = "email:"
PHONE_PREFIX = "phone:"


class PiiError(ValueError):
    """A raw identifier could not be normalised (so it cannot be hashed consistently)."""


@dataclass(frozen=True)
class HashVector:
    """One worked example of the recipe, for implementers in other languages to check against."""

    kind: str  # email | phone
    secret: str  # the pii_secret setting, hashed as its UTF-8 bytes
    raw: str
    region: str  # default region for phone numbers without a country code; "" for e-mail
    normalised: str
    hash: str


_VECTOR_SECRET = "journeys-test-vector-secret"
HASH_VECTORS: tuple[HashVector, ...] = (
    HashVector("email", _VECTOR_SECRET, "  Ann.Lee@Example.COM ", "", "ann.lee@example.com",
               "7fbfcce496fc635fc8e683208931f7a27771a88eaf2867766644eb36c3431567"),
    HashVector("email", _VECTOR_SECRET, "ann.lee@example.com", "", "ann.lee@example.com",
               "7fbfcce496fc635fc8e683208931f7a27771a88eaf2867766644eb36c3431567"),
    HashVector("email", "another-secret", "ann.lee@example.com", "", "ann.lee@example.com",
               "8422b2aa62d8f9cdd2c9b081b00fa0d4ff4041c0e55d5478d3cad64cf9479172"),
    HashVector("email", _VECTOR_SECRET, "Jörg.Müller+News@Bücher.Example", "", "jörg.müller+news@bücher.example",
               "8c7b63f98528e4c0ccd0b338486ccdeccb6a5855abc39196fd9f9acdf93f1a39"),
    HashVector("phone", _VECTOR_SECRET, "07700 900123", "GB", "+447700900123",
               "5d4b85d6b69184a9d7e078b68ccf41cecea88a3f451ac1c8e43eb8c38e0d4d12"),
    HashVector("phone", _VECTOR_SECRET, "+44 7700 900123", "GB", "+447700900123",
               "5d4b85d6b69184a9d7e078b68ccf41cecea88a3f451ac1c8e43eb8c38e0d4d12"),
    HashVector("phone", _VECTOR_SECRET, "+1 (650) 253-0000", "GB", "+16502530000",
               "812080774a4978a7ff803f80b0bfe5186a495e1447e2e7cbdfdda7a127cb1eda"),
    HashVector("phone", _VECTOR_SECRET, "030 1234567", "DE", "+49301234567",
               "1cdc463cb261fb15c8918a9b494e2c4d39bce9541cf0be307a73b2bee8c46cb9"),
)


def normalise_email(raw: str) -> str:
    """Trim (str.strip: Unicode whitespace) and lower-case (str.lower: full Unicode), nothing else.

    An address without exactly one @, a non-empty local part and a dotted domain, or with a space
    anywhere, is refused. No IDNA, no dropping of dots or +tags: other stacks must do the same.
    """
    email = raw.strip().lower()
    local, sep, domain = email.partition("@")
    if not sep or not local or "." not in domain or "@" in domain or " " in email:
        raise PiiError(f"not an e-mail address: {_mask(raw)}")
    return email


def normalise_phone(raw: str, default_region: str = "GB") -> str:
    """E.164 (+447700900123); numbers without a country code are read in `default_region`."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as err:
        raise PiiError(f"not a phone number: {_mask(raw)}") from err
    if not phonenumbers.is_possible_number(number):
        raise PiiError(f"not a possible phone number: {_mask(raw)}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def keyed_hash(value: str, secret: bytes) -> str:
    """64 lower-case hex digits of HMAC-SHA256(key=secret, message=UTF-8 of value), not truncated."""
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()


def hash_email(raw: str, secret: bytes) -> str:
    return keyed_hash(EMAIL_PREFIX + normalise_email(raw), secret)


def hash_phone(raw: str, secret: bytes, default_region: str = "GB") -> str:
    return keyed_hash(PHONE_PREFIX + normalise_phone(raw, default_region), secret)


def hash_identifier(text: str, secret: bytes, default_region: str = "GB") -> tuple[str, str]:
    """`email:ADDRESS` or `phone:NUMBER` -> (identifier field, hash), e.g. ("email_hash", "7fbf…")."""
    kind, sep, raw = text.partition(":")
    if kind == "email" and sep:
        return "email_hash", hash_email(raw, secret)
    if kind == "phone" and sep:
        return "phone_hash", hash_phone(raw, secret, default_region)
    raise PiiError(f"expected email:ADDRESS or phone:NUMBER, got {_mask(text)}")


def _mask(raw: str) -> str:
    """Enough of a value to find it in a source file, not enough to expose it."""
    text = raw.strip()
    return f"{text[:2]}…({len(text)} chars)" if len(text) > 2 else "(too short)"
