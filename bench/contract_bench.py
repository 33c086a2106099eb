"""Parse + validate throughput of typical touchpoint events on one core (target >= 50,000/s)."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.channels import channels
from schemas.events import Identifiers
from schemas.journeymap import load_journey_map
from schemas.validation import Rejection, validate

EVENTS_PER_RUN = 50_000
RUNS = 5


def typical_events() -> list[bytes]:
    """A mix of the four channels as producers put them on the wire (ids and times filled)."""
    now = datetime.now(UTC)
    models: dict[str, Any] = {name: channel.model for name, channel in channels().items()}
    web = models["web"](
        event_id="b5d1f6a0-0000-4000-8000-000000000001", event_time=now - timedelta(minutes=3),
        received_time=now, channel="web", touchpoint="web.product", event_type="product_view",
        identifiers=Identifiers(anonymous_id="c-7f3a9"),
        measures={"path": "/products/kettle-2000", "session_id": "s-91", "dwell_s": 42.5})
    call = models["call_centre"](
        event_id="b5d1f6a0-0000-4000-8000-000000000002", event_time=now - timedelta(hours=5),
        received_time=now, channel="call_centre", touchpoint="call_centre.support",
        event_type="call_answered", identifiers=Identifiers(phone_hash="a" * 64, crm_id="CRM-1"),
        segment="support_heavy",
        measures={"queue": "support", "wait_s": 95.0, "handle_s": 310.0, "transfers": 0,
                  "reason": "order_status", "resolved": True})
    email = models["email"](
        event_id="b5d1f6a0-0000-4000-8000-000000000003", event_time=now - timedelta(hours=1),
        received_time=now, channel="email", touchpoint="email.campaign", event_type="clicked",
        identifiers=Identifiers(email_hash="b" * 64), measures={"campaign": "spring"})
    store = models["store"](
        event_id="b5d1f6a0-0000-4000-8000-000000000004", event_time=now - timedelta(days=1),
        received_time=now, channel="store", touchpoint="store.checkout", event_type="purchase",
        identifiers=Identifiers(loyalty_id="L-1", email_hash="c" * 64),
        measures={"store_id": "leeds-01", "purchase_amount": 59.99})
    return [e.model_dump_json(exclude_none=True).encode() for e in (web, call, email, store)]


def run() -> dict[str, float]:
    journey_map = load_journey_map()
    payloads = typical_events()
    rates = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for i in range(EVENTS_PER_RUN):
            result = validate(payloads[i % 4], "bench", journey_map)
        rates.append(EVENTS_PER_RUN / (time.perf_counter() - started))
        assert not isinstance(result, Rejection), result
    figures = {"contract_parse_validate_events_per_s": statistics.median(rates)}
    print(f"parse + validate: {figures['contract_parse_validate_events_per_s']:,.0f} events/s (one core, median of {RUNS})")
    return figures


if __name__ == "__main__":
    run()
