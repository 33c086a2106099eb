"""PII at the edge: normalised, keyed hashes; raw values are refused where they do not parse."""

from __future__ import annotations

import pytest

from schemas.pii import PiiError, hash_email, hash_phone, normalise_email, normalise_phone

SECRET = b"test-secret"


def test_email_is_normalised_before_hashing() -> None:
    assert normalise_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    assert hash_email("Ann.Lee@Example.COM", SECRET) == hash_email("ann.lee@example.com ", SECRET)


def test_phone_is_e164_before_hashing() -> None:
    assert normalise_phone("07700 900123", "GB") == "+447700900123"
    assert hash_phone("+44 7700 900123", SECRET) == hash_phone("07700900123", SECRET, "GB")


def test_the_key_matters() -> None:
    assert hash_email("a@b.co", SECRET) != hash_email("a@b.co", b"other-secret")
    assert len(hash_email("a@b.co", SECRET)) == 64


@pytest.mark.parametrize("raw", ["not-an-email", "a@b", "@example.com", "a b@example.com"])
def test_bad_emails_are_refused_without_echoing_them(raw: str) -> None:
    with pytest.raises(PiiError) as caught:
        hash_email(raw, SECRET)
    assert raw not in str(caught.value) or len(raw) <= 2


@pytest.mark.parametrize("raw", ["12", "phone", "+44"])
def test_bad_phones_are_refused(raw: str) -> None:
    with pytest.raises(PiiError):
        hash_phone(raw, SECRET)
