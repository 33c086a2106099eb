"""Fixtures of the producers tests: topics created on the session broker, sample events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from foundation.kafka import ensure_topics
from foundation.settings import Settings
from producers.publisher import identifiers_from_raw
from schemas.channels import CallCentreEvent, EmailEvent, StoreEvent, WebEvent
from schemas.events import TouchpointEventBase

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def topics(settings: Settings) -> Settings:
    """The test's settings, with every pipeline topic created under its unique prefix."""
    ensure_topics(settings)
    return settings


def sample_events(settings: Settings) -> list[TouchpointEventBase]:
    """One realistic event per channel, for one customer seen on four channels."""
    ids = identifiers_from_raw(settings, email="Ada.Lovelace@Example.com ", phone="07700 900123")
    return [
        WebEvent(event_time=T0, channel="web", touchpoint="web.product", event_type="product_view",
                 identifiers={"anonymous_id": "c-1"}, measures={"path": "/kettle", "dwell_s": 41.0}),
        CallCentreEvent(event_time=T0 + timedelta(hours=1), channel="call_centre", source_id="cdr-1",
                        touchpoint="call_centre.support", event_type="call_answered",
                        identifiers={"phone_hash": ids.phone_hash},
                        measures={"wait_s": 420.0, "transfers": 2, "resolved": False}),
        EmailEvent(event_time=T0 + timedelta(hours=2), channel="email", touchpoint="email.support",
                   event_type="received", identifiers={"email_hash": ids.email_hash},
                   measures={"direction": "inbound", "thread_id": "th-9"}),
        StoreEvent(event_time=T0 + timedelta(days=1), channel="store", touchpoint="store.checkout",
                   event_type="purchase", identifiers={"loyalty_id": "L-77", "email_hash": ids.email_hash},
                   measures={"store_id": "s-12", "purchase_amount": 59.9}),
    ]
