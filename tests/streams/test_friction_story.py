"""Stories of friction: each rule firing and not firing, and retraction when it no longer holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from schemas.events import TouchpointEventBase
from tests.streams.story import Story, at, email, event

BEA: dict[str, Any] = {"email_hash": email(42)}


def call(when: datetime, **measures: Any) -> TouchpointEventBase:
    return event("call_centre", "call_answered", when, "call_centre.support", **BEA, **measures)


@pytest.mark.parametrize(("wait_s", "severity"), [(200.0, None), (301.0, "medium"), (601.0, "high")])
def test_long_wait(wait_s: float, severity: str | None) -> None:
    story = Story()
    story.send(call(at(0), wait_s=wait_s))
    assert [f["severity"] for f in story.frictions("long_wait")] == ([severity] if severity else [])


@pytest.mark.parametrize(("count", "severity"), [(1, None), (2, "medium"), (4, "high")])
def test_transfers(count: int, severity: str | None) -> None:
    story = Story()
    story.send(call(at(0), transfers=count))
    assert [f["severity"] for f in story.frictions("transfers")] == ([severity] if severity else [])


def test_long_queue_fires_only_above_the_threshold() -> None:
    story = Story()
    story.send(event("store", "visit", at(0), "store.floor", queue_wait_s=601.0, **BEA),
               event("store", "visit", at(1), "store.floor", queue_wait_s=599.0, **BEA))
    [f] = story.frictions("long_queue")
    assert f["measure"] == 601.0 and f["phase"] == "compare"


def checkout(when: datetime, **extra: Any) -> TouchpointEventBase:
    return event("web", "checkout_step", when, "web.checkout", checkout_step=1, **BEA, **extra)


def test_abandoned_checkout_fires_once_the_customer_clock_passes_the_window() -> None:
    story = Story()
    story.send(checkout(at(0), event_id="k1"), checkout(at(0, minutes=10), event_id="k2"))
    assert story.frictions("abandoned_checkout") == []
    story.send(event("web", "page_view", at(0, minutes=45), "web.content", **BEA))
    [f] = story.frictions("abandoned_checkout")
    assert f["evidence"] == ["k1"] and f["touchpoint"] == "web.checkout"


def test_a_checkout_followed_by_an_order_is_not_abandoned() -> None:
    story = Story()
    story.send(checkout(at(0)), event("web", "order_placed", at(0, minutes=20), "web.checkout", **BEA),
               event("web", "page_view", at(1), "web.content", **BEA))
    assert story.frictions("abandoned_checkout") == []


def test_a_late_order_retracts_an_abandoned_checkout() -> None:
    story = Story()
    story.send(checkout(at(0)), event("web", "page_view", at(0, hours=2), "web.content", **BEA))
    assert len(story.frictions("abandoned_checkout")) == 1
    story.send(event("web", "order_placed", at(0, minutes=25), "web.checkout", **BEA))
    assert story.frictions("abandoned_checkout") == []
    assert any(getattr(o, "retracted", False) and getattr(o, "rule", "") == "abandoned_checkout" for o in story.emitted)


def test_channel_hop_after_an_abandoned_checkout() -> None:
    story = Story()
    story.send(checkout(at(0), event_id="h1"), call(at(0, hours=3), event_id="h2"))
    [f] = story.frictions("channel_hop")
    assert f["evidence"] == ["h1", "h2"] and f["severity"] == "high" and f["channel"] == "call_centre"
    later = Story()
    later.send(checkout(at(0)), call(at(2)))
    assert later.frictions("channel_hop") == [] and len(later.frictions("abandoned_checkout")) == 1


def test_repeat_contact_after_an_unresolved_call() -> None:
    story = Story()
    story.send(call(at(0), event_id="r1", resolved=False),
               event("email", "received", at(3), "email.support", event_id="r2", direction="inbound", **BEA))
    [f] = story.frictions("repeat_contact")
    assert f["evidence"] == ["r1", "r2"] and f["touchpoint"] == "email.support"
    resolved = Story()
    resolved.send(call(at(0), resolved=True), call(at(1)), call(at(20), resolved=False), call(at(28)))
    assert resolved.frictions("repeat_contact") == []


def test_a_friction_keeps_the_context_its_evidence_carried() -> None:
    """Who suffered it, for incidents by dimension: each dimension's values over all its evidence events."""
    story = Story()
    story.send(call(at(0), event_id="r1", resolved=False, context={"agent_team": "billing"}),
               event("email", "received", at(3), "email.support", event_id="r2", direction="inbound",
                     context={"agent_team": "care", "locale": "en-GB"}, **BEA))
    [repeat] = story.frictions("repeat_contact")
    assert repeat["evidence"] == ["r1", "r2"]
    assert repeat["evidence_context"] == {"agent_team": ["billing", "care"], "locale": ["en-GB"]}
    bare = Story()
    bare.send(call(at(0), event_id="w1", wait_s=700.0))
    [wait] = bare.frictions("long_wait")
    assert wait["evidence"] == ["w1"] and wait["evidence_context"] == {}


def test_email_unanswered_fires_after_the_window_or_when_the_reply_is_late() -> None:
    story = Story()
    story.send(event("email", "received", at(0), "email.support", event_id="u1", direction="inbound",
                     thread_id="T1", **BEA),
               event("email", "replied", at(0, hours=2), "email.support", thread_id="T1", **BEA),
               event("email", "received", at(1), "email.support", event_id="u3", direction="inbound",
                     thread_id="T2", **BEA))
    assert story.frictions("email_unanswered") == []
    story.send(event("email", "replied", at(2, hours=6), "email.support", thread_id="T2", **BEA))
    [f] = story.frictions("email_unanswered")
    assert f["evidence"] == ["u3"] and f["measure"] == 30.0


def test_low_csat_and_nps_detractor_name_the_touchpoint_the_feedback_is_about() -> None:
    story = Story()
    story.send(event("email", "feedback", at(0), "email.service", feedback={"csat": 1, "nps": 3,
                                                                            "about_touchpoint": "store.checkout"}, **BEA),
               event("email", "feedback", at(1), "email.service", feedback={"csat": 4, "nps": 9}, **BEA))
    [csat] = story.frictions("low_csat")
    [nps] = story.frictions("nps_detractor")
    assert (csat["touchpoint"], csat["severity"]) == ("store.checkout", "high")
    assert (nps["severity"], nps["measure"]) == ("low", 3.0)


def test_poor_navigation() -> None:
    story = Story()
    story.send(event("web", "survey", at(0), "web.help", navigation_ease=2, **BEA),
               event("web", "survey", at(1), "web.help", navigation_ease=3, **BEA))
    assert [f["measure"] for f in story.frictions("poor_navigation")] == [2.0]


def test_stalled_before_purchase_but_not_after() -> None:
    story = Story()
    story.send(event("web", "page_view", at(0), "web.content", event_id="t1", **BEA),
               event("web", "page_view", at(15), "web.content", event_id="t2", **BEA))
    [f] = story.frictions("stalled")
    assert f["evidence"] == ["t1", "t2"] and f["severity"] == "low"
    bought = Story()
    bought.send(event("store", "purchase", at(0), "store.checkout", **BEA),
                event("web", "page_view", at(15), "web.help", **BEA))
    assert bought.frictions("stalled") == []


def test_friction_counts_on_the_journey_snapshot() -> None:
    story = Story()
    story.send(call(at(0), wait_s=900.0, transfers=3))
    assert story.journeys()[0]["friction_count"] == 2
