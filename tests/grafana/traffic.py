"""A week of omnichannel traffic for the dashboard tests, run through the real stream core.

Thirty-six customers in three segments walk research -> compare -> purchase -> after-sales over
the web, the call centre, e-mail and the store, with the pain points the friction rules look for
(long waits, transfers, abandoned checkouts, poor navigation, long queues, low CSAT). The events
go through streams.core's Pipeline (identity, stitching, friction), and the outputs, plus
per-minute health samples and dead letters, are what the warehouse writer inserts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from schemas.channels import event_adapter
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map
from schemas.outputs import DeadLetter, HealthSample
from streams.core.pipeline import Pipeline

NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=6)
CUSTOMERS = 36
SEGMENTS = ("bargain_hunter", "loyal", "new")
CHANNELS = ("web", "call_centre", "email", "store")
_ids = itertools.count(1)


def event(channel: str, touchpoint: str, event_type: str, when: datetime, customer: int,
          feedback: dict[str, Any] | None = None, **measures: Any) -> TouchpointEventBase:
    ids: dict[str, str] = {"email_hash": f"{customer + 1:064x}"}
    if channel == "web":
        ids["anonymous_id"] = f"device-{customer}"
    doc = {"event_id": f"g{next(_ids):05d}", "event_time": when, "received_time": when, "channel": channel,
           "touchpoint": touchpoint, "event_type": event_type, "identifiers": ids,
           "segment": SEGMENTS[customer % len(SEGMENTS)], "feedback": feedback, "measures": measures}
    result: TouchpointEventBase = event_adapter().validate_python(doc)
    return result


def research_and_compare(c: int, t: datetime) -> Iterator[TouchpointEventBase]:
    if c % 2 == 0:
        yield event("email", "email.campaign", "clicked", t, c, campaign="spring")
    yield event("web", "web.content", "page_view", t + timedelta(minutes=5), c, path="/blog", dwell_s=60 + c)
    yield event("web", "web.search", "search", t + timedelta(minutes=8), c, dwell_s=20,
                navigation_ease=2 if c % 6 == 0 else 4)
    yield event("web", "web.product", "product_view", t + timedelta(minutes=10), c, dwell_s=90)
    if c % 3 == 0:
        yield event("web", "web.product", "feedback", t + timedelta(minutes=11), c,
                    feedback={"csat": 4 + c % 2, "about_touchpoint": "web.product"})
    yield event("web", "web.compare", "compare", t + timedelta(hours=2), c, dwell_s=120)
    if c % 3 == 1:
        yield event("call_centre", "call_centre.sales", "call_answered", t + timedelta(hours=3), c,
                    wait_s=700 if c % 2 else 90, handle_s=300, transfers=0, resolved=True)
    if c % 4 == 2:
        yield event("store", "store.floor", "visit", t + timedelta(hours=5), c, visit_s=900,
                    queue_wait_s=900 if c % 8 == 2 else 120)


def purchase(c: int, t: datetime) -> Iterator[TouchpointEventBase]:
    if c % 4 == 2:
        yield event("store", "store.checkout", "purchase", t, c, purchase_amount=120.0, queue_wait_s=200)
        return
    yield event("web", "web.checkout", "checkout_step", t, c, checkout_step=1, cart_value=80.0)
    if c % 5 == 4:  # abandons, and the customer clock moves on past the abandonment window
        yield event("web", "web.content", "page_view", t + timedelta(hours=2), c, dwell_s=15)
        return
    yield event("web", "web.checkout", "order_placed", t + timedelta(minutes=4), c, order_id=f"o{c}",
                order_amount=80.0)
    yield event("email", "email.service", "delivered", t + timedelta(minutes=6), c)
    yield event("web", "web.checkout", "feedback", t + timedelta(minutes=8), c, feedback={"csat": 3 + c % 3})
    if c % 7 == 3:
        yield event("email", "email.service", "bounced", t + timedelta(minutes=7), c)


def after_sales(c: int, t: datetime) -> Iterator[TouchpointEventBase]:
    yield event("web", "web.help", "help_view", t, c, dwell_s=45)
    yield event("call_centre", "call_centre.support", "call_answered", t + timedelta(hours=1), c,
                wait_s=400 if c % 3 == 0 else 60, handle_s=240, transfers=3 if c % 5 == 0 else 0,
                resolved=c % 5 != 0)
    yield event("email", "email.support", "received", t + timedelta(hours=2), c, direction="inbound",
                thread_id=f"th{c}")
    yield event("email", "email.support", "replied", t + timedelta(hours=5), c, thread_id=f"th{c}",
                response_s=3 * 3600)
    yield event("store", "store.service_desk", "service_desk", t + timedelta(hours=8), c,
                service_desk_request="repair", queue_wait_s=300)
    csat = 1 + c % 5
    yield event("web", "web.help", "feedback", t + timedelta(hours=9), c,
                feedback={"csat": csat, "nps": 2 * csat, "about_touchpoint": "call_centre.support"})


def customer_events(c: int) -> list[TouchpointEventBase]:
    t = START + timedelta(hours=2 * c)  # the last customer finishes well before NOW
    events = list(research_and_compare(c, t))
    events += purchase(c, t + timedelta(days=1))
    if c % 5 != 4:
        events += after_sales(c, t + timedelta(days=2))
    return events


def stream_outputs() -> list[BaseModel]:
    """Every output record of the stream core for the week's events, in event-time order."""
    events = sorted((e for c in range(CUSTOMERS) for e in customer_events(c)), key=lambda e: e.event_time)
    pipeline = Pipeline(load_journey_map())
    return [record for e in events for record in pipeline.feed(e)]


def health_samples() -> list[HealthSample]:
    """Per-minute samples for the last two hours: ingest per channel, consumer lag and latency."""
    samples: list[HealthSample] = []
    for minute in range(120):
        at = (NOW - timedelta(minutes=120 - minute)).replace(tzinfo=None)
        samples += [HealthSample(minute=at, stage="simulator", channel=ch, events=30 + 5 * i)
                    for i, ch in enumerate(CHANNELS)]
        samples.append(HealthSample(minute=at, stage="worker", lag=20 * minute, latency_ms_p50=80,
                                    latency_ms_p95=250 + minute, events=140))
        samples.append(HealthSample(minute=at, stage="sink", lag=5, errors=minute % 30 == 0,
                                    retries=minute % 15 == 0, latency_ms_p50=400, latency_ms_p95=900))
    return samples


def dead_letters() -> list[DeadLetter]:
    return [DeadLetter(source=f"topic:touchpoints.{ch}/0/{n}", reason="measures: unknown field", kind="validation",
                       problems=("measures.colour: extra inputs are not permitted",), payload="{}", channel=ch,
                       rejected_at=NOW - timedelta(minutes=5 + 7 * n))
            for n, ch in enumerate(CHANNELS * 3)]


def all_records() -> list[BaseModel]:
    return [*stream_outputs(), *health_samples(), *dead_letters()]
