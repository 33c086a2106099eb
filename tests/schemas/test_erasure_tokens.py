"""Erasure tokens and what names a customer: keyed tokens that name nobody, exact fields, no substrings."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from schemas.erasure import ErasureList, erased_token, payload_keys, record_keys
from schemas.ids import customer_id_for
from schemas.outputs import DeadLetter, IdentityLink, JourneySnapshot

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_tokens_are_keyed_with_the_pii_secret() -> None:
    key = "crm_id:C-1"
    token, other = erased_token(key, b"secret-one"), erased_token(key, b"secret-two")
    assert token != other and token == erased_token(key, b"secret-one")
    bare = hashlib.sha256(key.encode()).hexdigest()
    assert bare not in token and customer_id_for(key).removeprefix("cust-") not in token
    # without the secret, guessing short ids and hashing them finds nothing on the list
    guesses = {erased_token(f"crm_id:C-{n}", b"a-guessed-secret") for n in range(1000)}
    assert token not in guesses
    assert ErasureList(b"secret-one", {token}).refuses([key])
    assert not ErasureList(b"secret-two", {token}).refuses([key])


def test_a_payload_names_an_identifier_only_in_its_own_field() -> None:
    parsed = '{"channel": "web", "identifiers": {"anonymous_id": "dev-1"}, "measures": {"path": "/web"}}'
    assert "anonymous_id:web" not in payload_keys(parsed)
    assert "anonymous_id:dev-1" in payload_keys(parsed)
    assert "anonymous_id:dev" not in payload_keys(parsed)  # no prefixes either
    broken = '{"channel": "web", "identifiers": {"anonymous_id": "dev-1", "crm_id": "C-7"'  # cut short
    assert payload_keys(broken) == {"anonymous_id:dev-1", "crm_id:C-7"}
    assert payload_keys('{"note": "anonymous_id web"') == set()
    nested = '[{"event": {"customer_id": "cust-1", "identifiers": ["email_hash:ab", "anonymous_id:d"]}}]'
    assert payload_keys(nested) == {"customer_id:cust-1", "email_hash:ab", "anonymous_id:d"}
    assert "email:ann@example.com" in payload_keys('{"email": " Ann@Example.com"}')


def test_records_name_their_customers_and_a_forget_record_names_nobody() -> None:
    snapshot = JourneySnapshot(journey_id="j-1", customer_id="cust-1", version=0, started_at=NOW,
                               last_event_at=NOW, events=1, channels=("web",), channel_switches=0,
                               first_channel="web", phase_first_at={}, furthest_phase=None,
                               current_phase=None, converted=False, updated_at=NOW)
    assert record_keys(snapshot) == {"customer_id:cust-1"}
    forget = IdentityLink(link_id="forget-1", kind="forget", customer_id="forgotten",
                          identifiers=("erased:ab",), rule="erasure_request", event_time=NOW, recorded_at=NOW)
    assert record_keys(forget) == set()
    letter = DeadLetter(source="s", reason="r", kind="validation", problems=(), payload="{}", payload_encoding="base64",
                        rejected_at=NOW)
    assert record_keys(letter) == set()
