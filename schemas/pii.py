"""PII at the edge: raw e-mail addresses and phone numbers become keyed hashes here, once.

Every producer calls these functions before anything is published; raw values never reach Kafka.
HMAC-SHA256 with a secret key (the `pii_secret` setting) means a leaked topic cannot be reversed
by hashing a list of known addresses without the key.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers


class PiiError(ValueError):
    """A raw identifier could not be normalised (so it cannot be hashed consistently)."""


def normalise_email(raw: str) -> str:
    """Trim and lower-case; an address without exactly one @ and a dotted domain is refused."""
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
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()


def hash_email(raw: str, secret: bytes) -> str:
    return keyed_hash("email:" + normalise_email(raw), secret)


def hash_phone(raw: str, secret: bytes, default_region: str = "GB") -> str:
    return keyed_hash("phone:" + normalise_phone(raw, default_region), secret)


def _mask(raw: str) -> str:
    """Enough of a value to find it in a source file, not enough to expose it."""
    text = raw.strip()
    return f"{text[:2]}…({len(text)} chars)" if len(text) > 2 else "(too short)"
