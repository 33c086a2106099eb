"""The event contract: valid events round-trip; bad input is rejected with a precise reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.channels import channels, event_adapter
from schemas.journeymap import load_journey_map
from schemas.validation import Rejection, validate

MAP = load_journey_map()
NOW = datetime.now(UTC)


def web_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "source_id": "beacon-1", "event_time": (NOW - timedelta(hours=1)).isoformat(),
        "channel": "web", "touchpoint": "web.product", "event_type": "product_view",
        "identifiers": {"anonymous_id": "c-1"}, "measures": {"path": "/p/kettle", "dwell_s": 12.5},
    }
    event.update(changes)
    return event


def test_a_valid_web_event_is_typed() -> None:
    event = validate(json.dumps(web_event()), "test", MAP)
    assert not isinstance(event, Rejection)
    assert event.measures.dwell_s == 12.5  # type: ignore[attr-defined]
    assert event.identifiers.primary() == "anonymous_id:c-1"


def test_event_id_is_derived_from_the_source_id() -> None:
    first = validate(json.dumps(web_event()), "a", MAP)
    again = validate(json.dumps(web_event()), "b", MAP)
    other = validate(json.dumps(web_event(source_id="beacon-2")), "c", MAP)
    assert not isinstance(first, Rejection) and not isinstance(again, Rejection)
    assert not isinstance(other, Rejection)
    assert first.event_id == again.event_id != other.event_id


def test_without_a_source_id_each_event_gets_its_own_id() -> None:
    a = validate(json.dumps(web_event(source_id=None)), "a", MAP)
    b = validate(json.dumps(web_event(source_id=None)), "a", MAP)
    assert not isinstance(a, Rejection) and not isinstance(b, Rejection)
    assert a.event_id != b.event_id


BAD_INPUT: list[tuple[str, bytes | dict[str, Any], str, str]] = [
    ("truncated JSON", b'{"channel": "web", ', "", "Invalid JSON"),
    ("not an object", b"[1, 2]", "", "Input should be"),
    ("unknown channel", web_event(channel="fax"), "", "unknown channel 'fax'"),
    ("missing channel", {k: v for k, v in web_event().items() if k != "channel"}, "", "missing 'channel'"),
    ("unknown event type", web_event(event_type="teleport"), "event_type", "Input should be"),
    ("naive timestamp", web_event(event_time="2026-01-02T10:00:00"), "event_time", "timezone"),
    ("far-future timestamp", web_event(event_time=(NOW + timedelta(days=30)).isoformat()), "", "in the future"),
    ("ancient timestamp", web_event(event_time="1999-12-31T23:00:00+00:00"), "", "before 2000"),
    ("no identifiers", web_event(identifiers={}), "identifiers", "at least one customer identifier"),
    ("raw e-mail instead of hash", web_event(identifiers={"email_hash": "ann@example.com"}),
     "identifiers.email_hash", "should match pattern"),
    ("unknown identifier", web_event(identifiers={"ssn": "123"}), "identifiers.ssn", "Extra inputs"),
    ("wrong type", web_event(measures={"dwell_s": "long"}), "measures.dwell_s", "valid number"),
    ("negative wait", {**web_event(channel="call_centre", touchpoint="call_centre.support",
                                   event_type="call_answered"), "measures": {"wait_s": -5}},
     "measures.wait_s", "greater than or equal to 0"),
    ("navigation rating out of range", web_event(measures={"navigation_ease": 7}),
     "measures.navigation_ease", "less than or equal to 5"),
    ("CSAT of 7", web_event(event_type="feedback", feedback={"csat": 7}), "feedback.csat", "less than or equal to 5"),
    ("NPS of 11", web_event(event_type="feedback", feedback={"nps": 11}), "feedback.nps", "less than or equal to 10"),
    ("feedback without content", web_event(event_type="feedback"), "", "needs a feedback object"),
    ("NaN measure", json.dumps(web_event(measures={"dwell_s": float("nan")})).encode(),
     "measures.dwell_s", "finite number"),
    ("Infinity measure", web_event(measures={"dwell_s": 1e400}), "measures.dwell_s", "finite number"),
    ("undeclared touchpoint", web_event(touchpoint="web.secret_page"), "touchpoint", "not declared"),
    ("extra top-level field", web_event(colour="red"), "colour", "Extra inputs"),
    ("unsupported schema major", web_event(schema_version="2.0"), "", "not readable"),
    ("invalid UTF-8", b'{"channel": "web\xff"}', "", "not UTF-8"),
    ("deeply nested JSON", b"[" * 50 + b"]" * 50, "", "nested 50 levels"),
    ("oversized event", json.dumps(web_event(measures={"path": "x" * 70000})).encode(), "", "limit is"),
]


@pytest.mark.parametrize(("kind", "payload", "path", "message"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_rejected_with_a_precise_reason(kind: str, payload: bytes | dict[str, Any],
                                                      path: str, message: str) -> None:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    result = validate(raw, "test-source", MAP)
    assert isinstance(result, Rejection), kind
    assert result.source == "test-source"
    assert any(p.path == path and message in p.message for p in result.problems), result.problems
    assert len(BAD_INPUT) >= 15


def test_a_rejection_keeps_the_payload_even_when_it_is_not_utf8() -> None:
    raw = b'{"channel": "web\xff"}'
    result = validate(raw, "s", MAP)
    assert isinstance(result, Rejection)
    assert result.payload_encoding == "base64"
    import base64
    assert base64.b64decode(result.payload) == raw


def test_every_channel_accepts_feedback() -> None:
    for name in channels():
        tp = MAP.touchpoint_ids(name)[0]
        event = web_event(channel=name, touchpoint=tp, event_type="feedback", measures={},
                          feedback={"csat": 2, "about_touchpoint": "call_centre.support"})
        assert not isinstance(validate(json.dumps(event), "s", MAP), Rejection), name


def test_serialised_event_parses_back_equal() -> None:
    event = validate(json.dumps(web_event()), "s", MAP)
    assert not isinstance(event, Rejection)
    assert event_adapter().validate_json(event.model_dump_json()) == event
