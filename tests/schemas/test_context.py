"""Context dimensions: declared in the journey map, carried on every event, refused when not declared.

A web shop sends the device, the browser and the campaign with each event; the map says which
dimensions exist and, for closed ones, which values. What the map does not declare is refused with
the dimension's path and the declared names, so the sender knows what to fix.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from schemas.journeymap import load_journey_map
from schemas.validation import Rejection, validate
from streams.core.records import event_of, record_of
from streams.core.render import event_document

MAP = load_journey_map()


def web_event(**extra: Any) -> dict[str, Any]:
    return {"source_id": "e-1", "event_time": datetime.now(UTC).isoformat(), "channel": "web",
            "touchpoint": "web.checkout", "event_type": "checkout_step",
            "identifiers": {"anonymous_id": "dev-1"}, "measures": {"checkout_step": 2}, **extra}


def test_declared_dimensions_are_carried() -> None:
    context = {"device_type": "mobile", "browser": "safari", "utm_source": "newsletter"}
    event = validate(json.dumps(web_event(context=context)), "test", MAP)
    assert not isinstance(event, Rejection), event
    assert event.context == context


def test_an_undeclared_dimension_is_refused_with_its_path_and_the_declared_names() -> None:
    result = validate(json.dumps(web_event(context={"shoe_size": "42"})), "test", MAP)
    assert isinstance(result, Rejection)
    [problem] = result.problems
    assert problem.path == "context.shoe_size"
    assert "not declared in the journey map" in problem.message and "device_type" in problem.message


def test_a_value_outside_a_closed_dimension_is_refused() -> None:
    result = validate(json.dumps(web_event(context={"device_type": "fridge"})), "test", MAP)
    assert isinstance(result, Rejection)
    assert result.problems[0].path == "context.device_type"
    assert "'fridge' is not an allowed value" in result.problems[0].message


def test_a_value_over_the_dimension_length_is_refused() -> None:
    result = validate(json.dumps(web_event(context={"browser": "x" * 41})), "test", MAP)
    assert isinstance(result, Rejection) and "the limit is 40" in result.reason


def test_web_errors_are_events_of_their_own_with_a_kind_and_a_code() -> None:
    error = web_event(event_type="error", measures={"error_kind": "payment", "error_code": "card_declined",
                                                    "path": "/checkout/payment"})
    event = validate(json.dumps(error), "test", MAP)
    assert not isinstance(event, Rejection), event
    assert event.measures.error_code == "card_declined"  # type: ignore[attr-defined]
    assert MAP.phase_for("web", "error", "web.checkout", {}) == "current"  # an error does not move the journey


def test_the_stitcher_keeps_context_through_its_compact_record() -> None:
    event = validate(json.dumps(web_event(context={"device_type": "tablet"})), "test", MAP)
    assert not isinstance(event, Rejection)
    record = record_of(event, MAP)
    assert event_of(record).context == {"device_type": "tablet"}
    assert event_document(record)["context"] == {"device_type": "tablet"}
    plain = validate(json.dumps(web_event()), "test", MAP)
    assert not isinstance(plain, Rejection)
    assert len(record_of(plain, MAP)) == len(record) - 1  # no context, no extra bytes in the customer's state
    assert event_of(record_of(plain, MAP)).context == {}


def test_an_address_in_a_dimension_value_is_scrubbed_like_any_free_text() -> None:
    event = validate(json.dumps(web_event(context={"utm_campaign": "promo-ann.lee@example.com"})), "test", MAP)
    assert not isinstance(event, Rejection), event
    assert event.context == {"utm_campaign": "[email]"}  # the hyphen is part of the local part
