"""A small hand-made scenario of output records, with the numbers a person computes from it.

Four customers (a, b, c, d). a researches, compares, buys on the web and then waits 400 s on a
support call transferred twice, and rates it CSAT 2 / NPS 3 by e-mail. b searches, queues 700 s
in a store and calls sales (resolved). c browses anonymously as cust-c1 (journey j-c1), logs in,
is merged into cust-c (j-c1 retracted, its step and friction re-sent under cust-c / j-c) and buys
in store. d abandons a web checkout. Older versions are written after newer ones, some records
twice, and a friction is retracted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from schemas.channels import CallCentreEvent, EmailEvent, StoreEvent, WebEvent
from schemas.outputs import (
    DeadLetter,
    FrictionEvent,
    HealthSample,
    IdentityLink,
    JourneySnapshot,
    JourneyStep,
)

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
PHASES = ("research", "compare", "purchase", "after_sales")
MODELS = {"web": WebEvent, "call_centre": CallCentreEvent, "email": EmailEvent, "store": StoreEvent}


def event(eid: str, channel: str, touchpoint: str, event_type: str, at: datetime, who: str,
          segment: str | None = None, feedback: dict[str, Any] | None = None, **measures: Any) -> Any:
    model: Any = MODELS[channel]
    return model(event_id=eid, event_time=at, received_time=at + timedelta(seconds=5), channel=channel,
                           touchpoint=touchpoint, event_type=event_type, identifiers={"anonymous_id": who},
                           segment=segment, feedback=feedback, measures=measures)


def step(ev: Any, customer: str, journey: str, index: int, phase: str, version: int) -> JourneyStep:
    return JourneyStep(customer_id=customer, journey_id=journey, step_index=index, phase=phase,
                       version=version, event=ev)


def journey(jid: str, customer: str, version: int, started: datetime, last: datetime, events: int,
            channels: tuple[str, ...], reached: dict[str, datetime], status: str = "active",
            segment: str = "unknown", retracted: bool = False) -> JourneySnapshot:
    furthest = max(reached, key=PHASES.index) if reached else None
    return JourneySnapshot(journey_id=jid, customer_id=customer, version=version, retracted=retracted,
                           segment=segment, started_at=started, last_event_at=last, events=events,
                           channels=channels, channel_switches=max(0, len(channels) - 1),
                           first_channel=channels[0], phase_first_at=reached, furthest_phase=furthest,
                           current_phase=furthest, converted="purchase" in reached,
                           status=status, updated_at=last)


def friction(fid: str, customer: str, jid: str, rule: str, touchpoint: str, phase: str, at: datetime,
             version: int, severity: str = "medium", retracted: bool = False, measure: float | None = None,
             ) -> FrictionEvent:
    return FrictionEvent(friction_id=fid, customer_id=customer, journey_id=jid, rule=rule, touchpoint=touchpoint,
                         channel=touchpoint.split(".")[0], phase=phase, severity=severity,
                         detected_at=at, measure=measure, evidence=(fid,), version=version, retracted=retracted)


A1 = event("a1", "web", "web.content", "page_view", T0, "a", "family", dwell_s=30)
A2 = event("a2", "web", "web.compare", "compare", T0 + H, "a", "family", dwell_s=60, navigation_ease=4)
A3 = event("a3", "web", "web.checkout", "checkout_step", T0 + 2 * H, "a", checkout_step=1)
A4 = event("a4", "web", "web.checkout", "order_placed", T0 + 2 * H + timedelta(minutes=10), "a", order_amount=100)
A5 = event("a5", "call_centre", "call_centre.support", "call_answered", T0 + 2 * D, "a",
           wait_s=400, transfers=2, resolved=False)
A6 = event("a6", "email", "email.support", "feedback", T0 + 2 * D + H, "a",
           feedback={"csat": 2, "nps": 3, "about_touchpoint": "call_centre.support"}, direction="inbound")
B1 = event("b1", "web", "web.search", "search", T0 + D, "b", "student")
B2 = event("b2", "store", "store.floor", "visit", T0 + D + H, "b", queue_wait_s=700, visit_s=900)
B3 = event("b3", "call_centre", "call_centre.sales", "call_answered", T0 + D + 3 * H, "b",
           wait_s=100, transfers=0, resolved=True)
C1 = event("c1", "web", "web.product", "product_view", T0 + 3 * D, "c", dwell_s=90, navigation_ease=1)
C2 = event("c2", "web", "web.account", "login", T0 + 3 * D + H, "c")
C3 = event("c3", "store", "store.checkout", "purchase", T0 + 3 * D + 5 * H, "c", purchase_amount=50)
D1 = event("d1", "web", "web.checkout", "checkout_step", T0 + 4 * D, "d", "student", checkout_step=1)

STEPS = [
    step(A1, "cust-a", "j-a", 0, "research", 1), step(A2, "cust-a", "j-a", 1, "compare", 2),
    step(A1, "cust-a", "j-a", 0, "research", 1),  # re-sent, same version
    step(A3, "cust-a", "j-a", 2, "purchase", 3), step(A4, "cust-a", "j-a", 3, "purchase", 4),
    step(A5, "cust-a", "j-a", 4, "after_sales", 5), step(A6, "cust-a", "j-a", 5, "after_sales", 6),
    step(B1, "cust-b", "j-b", 0, "research", 1), step(B2, "cust-b", "j-b", 1, "compare", 2),
    step(B3, "cust-b", "j-b", 2, "compare", 3),
    step(C1, "cust-c", "j-c", 0, "research", 3),  # the merged placement first, the old one after
    step(C1, "cust-c1", "j-c1", 0, "research", 1),
    step(C2, "cust-c", "j-c", 1, "research", 3), step(C3, "cust-c", "j-c", 2, "purchase", 4),
    step(D1, "cust-d", "j-d", 0, "purchase", 1),
]
JOURNEYS = [
    journey("j-a", "cust-a", 6, T0, A6.event_time, 6, ("web", "call_centre", "email"),
            {"research": T0, "compare": T0 + H, "purchase": T0 + 2 * H, "after_sales": T0 + 2 * D}, segment="family"),
    journey("j-a", "cust-a", 2, T0, T0 + H, 2, ("web",), {"research": T0, "compare": T0 + H}, segment="family"),
    journey("j-b", "cust-b", 3, T0 + D, B3.event_time, 3, ("web", "store", "call_centre"),
            {"research": T0 + D, "compare": T0 + D + H}, status="stalled", segment="student"),
    journey("j-c1", "cust-c1", 1, C1.event_time, C1.event_time, 1, ("web",), {"research": C1.event_time}),
    journey("j-c1", "cust-c1", 2, C1.event_time, C1.event_time, 1, ("web",), {"research": C1.event_time},
            retracted=True),
    journey("j-c", "cust-c", 4, C1.event_time, C3.event_time, 3, ("web", "store"),
            {"research": C1.event_time, "purchase": C3.event_time}),
    journey("j-c", "cust-c", 4, C1.event_time, C3.event_time, 3, ("web", "store"),
            {"research": C1.event_time, "purchase": C3.event_time}),  # re-sent, same version
    journey("j-d", "cust-d", 1, D1.event_time, D1.event_time, 1, ("web",), {"purchase": D1.event_time},
            segment="student"),
]
FRICTION = [
    friction("f-wait", "cust-a", "j-a", "long_wait", "call_centre.support", "after_sales", A5.event_time, 5,
             measure=400),
    friction("f-transfers", "cust-a", "j-a", "transfers", "call_centre.support", "after_sales", A5.event_time, 5),
    friction("f-csat", "cust-a", "j-a", "low_csat", "call_centre.support", "after_sales", A6.event_time, 6),
    friction("f-queue", "cust-b", "j-b", "long_queue", "store.floor", "compare", B2.event_time, 2),
    friction("f-stalled", "cust-b", "j-b", "stalled", "web.search", "research", B1.event_time, 3, retracted=True),
    friction("f-stalled", "cust-b", "j-b", "stalled", "web.search", "research", B1.event_time, 2, "low"),
    friction("f-nav", "cust-c", "j-c", "poor_navigation", "web.product", "research", C1.event_time, 3, "low"),
    friction("f-nav", "cust-c1", "j-c1", "poor_navigation", "web.product", "research", C1.event_time, 1, "low"),
    friction("f-abandon", "cust-d", "j-d", "abandoned_checkout", "web.checkout", "purchase",
             D1.event_time + timedelta(minutes=30), 1),
]
LINKS = [
    IdentityLink(link_id="l-c", kind="merge", customer_id="cust-c", merged_customer_id="cust-c1",
                 identifiers=("anonymous_id:c", "email_hash:" + "e" * 64), rule="web_login",
                 evidence_event_id="c2", event_time=C2.event_time, recorded_at=C2.event_time),
]
MINUTE = T0.replace(tzinfo=None)
HEALTH = [
    HealthSample(minute=MINUTE, stage="worker", channel="web", events=10, lag=5, latency_ms_p50=20, latency_ms_p95=80),
    HealthSample(minute=MINUTE + timedelta(minutes=1), stage="worker", channel="web", events=5, lag=2,
                 latency_ms_p50=10, latency_ms_p95=40),
]
DEAD = [DeadLetter(source="collector", reason="invalid event", kind="validation", problems=("event_time: missing",),
                   payload='{"channel": "web"}', channel="web", rejected_at=T0)]

RECORDS: list[BaseModel] = [*STEPS, *JOURNEYS, *FRICTION, *LINKS, *HEALTH, *DEAD, *DEAD]

# What a person computes from the records above.
FUNNEL = [  # phase, journeys (at or beyond), share_of_start, from_previous, dropped_off, avg_hours_to_convert
    ("research", 4, 1.0, 1.0, 0, None),  # d started in purchase, yet counts: it reached beyond
    ("compare", 4, 1.0, 1.0, 1, None),
    ("purchase", 3, 0.75, 0.75, 2, 2.33),  # time to convert: a 2 h, c 5 h, d 0 h
    ("after_sales", 1, 0.25, 0.3333, 1, None),
]
