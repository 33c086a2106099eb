"""The edge's rules in validation: its clock for received_time, the topic's channel, scrubbed free text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from schemas.errors import ConfigError
from schemas.journeymap import DEFAULT_MAP_PATH, load_journey_map
from schemas.scrub import DEFAULT_PATTERNS
from schemas.validation import Edge, Rejection, validate

MAP = load_journey_map()
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def web(**changes: Any) -> bytes:
    event = {"channel": "web", "touchpoint": "web.product", "event_type": "product_view",
             "event_time": "2026-12-03T11:59:00Z", "source_id": "edge-1",
             "identifiers": {"anonymous_id": "edge-device"}, "measures": {"path": "/kettle"}} | changes
    return json.dumps(event).encode()


def accepted(payload: bytes, edge: Edge | None = None) -> Any:
    result = validate(payload, "test", MAP, edge or Edge(received=NOW))
    assert not isinstance(result, Rejection), result.reason
    return result


def test_a_received_time_from_the_far_future_is_replaced_by_the_edges_clock() -> None:
    event = accepted(web(received_time="2999-01-01T00:00:00Z"))
    assert event.received_time == NOW


def test_a_received_time_within_the_skew_or_in_the_past_is_the_senders() -> None:
    ahead = NOW + timedelta(minutes=4)
    assert accepted(web(received_time=ahead.isoformat())).received_time == ahead
    earlier = datetime(2026, 1, 5, 10, tzinfo=UTC)  # an import of history keeps its times
    past = accepted(web(event_time="2026-01-05T09:00:00Z", received_time=earlier.isoformat()))
    assert past.received_time == earlier
    assert accepted(web(received_time=ahead.isoformat()), Edge(NOW, max_skew_s=60)).received_time == NOW


def test_a_missing_received_time_is_when_the_edge_received_it() -> None:
    assert accepted(web()).received_time == NOW


def test_an_event_dated_far_ahead_of_a_forged_received_time_is_refused_with_its_reason() -> None:
    result = validate(web(event_time="2998-01-01T00:00:00Z", received_time="2999-01-01T00:00:00Z"),
                      "test", MAP, Edge(received=NOW))
    assert isinstance(result, Rejection)
    assert "2998-01-01" in result.reason and "in the future" in result.reason and "2026-12-03" in result.reason


def test_an_event_on_another_channels_topic_is_refused_naming_both() -> None:
    store = web(channel="store", touchpoint="store.checkout", event_type="purchase", measures={})
    result = validate(store, "topic:touchpoints.web/0/7", MAP, Edge(NOW, channel="web"))
    assert isinstance(result, Rejection)
    assert result.problems[0].path == "channel"
    assert "'store'" in result.reason and "touchpoints.web" in result.reason
    assert not isinstance(validate(store, "s", MAP, Edge(NOW, channel="store")), Rejection)


@pytest.mark.parametrize(("text", "scrubbed"), [
    ("/checkout?email=bob.smith%40example.com&step=2", "/checkout?email=[email]&step=2"),
    ("/account?user=ann@example.co.uk", "/account?user=[email]"),
    ("/callback?tel=%2B447700900123", "/callback?tel=[phone]"),
    ("call me on +44 7700 900123 or 020 7946 0958", "call me on [phone] or [phone]"),
    ("(555) 123-4567", "[phone]"),
    ("/x?e=0%40A.A.A.A.A.A.A.A.A.A.COM", "/x?e=[email]"),  # ten labels before the top-level domain
])
def test_addresses_and_phone_numbers_in_free_text_become_markers(text: str, scrubbed: str) -> None:
    event = accepted(web(measures={"path": text, "referrer": "https://mail.example.com/?to=" + text}))
    assert event.measures.path == scrubbed
    assert event.measures.referrer == "https://mail.example.com/?to=" + scrubbed
    feedback = accepted(web(event_type="feedback", feedback={"csat": 2, "comment": text}))
    assert feedback.feedback.comment == scrubbed
    call = accepted(web(channel="call_centre", touchpoint="call_centre.support", event_type="call_answered",
                        measures={"queue": text, "team": text}))
    assert call.measures.queue == call.measures.team == scrubbed


@hypothesis_settings(max_examples=200, deadline=None, database=None)
@given(address=st.emails(), before=st.sampled_from(["/x?e=", "mail ", "/u/", ""]),
       after=st.sampled_from(["", "&step=2", " thanks", "/"]))
def test_no_address_survives_in_a_path(address: str, before: str, after: str) -> None:
    text = (before + address.replace("@", "%40" if before.endswith("=") else "@") + after)[:2000]
    path = accepted(web(measures={"path": text})).measures.path
    domain = address.rsplit("@", 1)[1]
    assert "[email]" in path and "@" + domain not in path and "%40" + domain not in path


@pytest.mark.parametrize("text", ["/products/123456789012", "/orders/ORD-123-4567-8901", "/search?q=blue+kettle",
                                  "2026-12-03", "/p/kettle?ref=a+b", "/ip/192.168.100.200"])
def test_text_without_pii_is_left_as_it_was(text: str) -> None:
    assert accepted(web(measures={"path": text})).measures.path == text


def test_ids_are_not_free_text() -> None:
    event = accepted(web(measures={"path": "/x", "session_id": "s+447700900123", "order_id": "ORD-2026-03-0042"}))
    assert (event.measures.session_id, event.measures.order_id) == ("s+447700900123", "ORD-2026-03-0042")


@pytest.mark.parametrize(("measures", "path", "what"), [
    ({"order_id": "ann@example.com"}, "measures.order_id", "an e-mail address"),
    ({"session_id": "+44 7700 900123".replace(" ", "")}, "measures.session_id", "a phone number"),
])
def test_an_id_holding_an_address_or_a_number_is_refused_not_kept(measures: dict[str, str], path: str,
                                                                 what: str) -> None:
    """Ids are not scrubbed (they identify), so one holding contact details is refused at the edge."""
    rejection = validate(web(measures={"path": "/x", **measures}), "test", MAP)
    assert isinstance(rejection, Rejection)
    assert str(rejection.problems[0]) == f"{path}: an id cannot hold {what} (ids travel in clear): " \
        f"send the {'address' if 'mail' in what else 'number'} as identifiers." \
        f"{'email' if 'mail' in what else 'phone'}_hash, hashed by the PII recipe, or an opaque id"


def test_the_shipped_map_spells_out_the_default_patterns() -> None:
    assert tuple((p.pattern, p.marker, p.hints) for p in MAP.pii_scrubbing.patterns) == DEFAULT_PATTERNS


def _map_with(tmp_path: Path, patterns: list[dict[str, Any]]) -> Path:
    raw = yaml.safe_load(DEFAULT_MAP_PATH.read_text()) | {"pii_scrubbing": {"patterns": patterns}}
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_patterns_are_the_maps(tmp_path: Path) -> None:
    own = load_journey_map(_map_with(tmp_path, [{"pattern": r"\bCUST-\d{6}\b", "marker": "[customer]"}]))
    result = validate(web(measures={"path": "/u/CUST-123456?e=ann@example.com"}), "s", own, Edge(NOW))
    assert not isinstance(result, Rejection)
    assert result.measures.path == "/u/[customer]?e=ann@example.com"


def test_a_pattern_that_does_not_compile_names_its_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_journey_map(_map_with(tmp_path, [{"pattern": "(unclosed", "marker": "[x]"}]))
    assert "pii_scrubbing.patterns.0.pattern" in str(err.value) and "regular expression" in str(err.value)
