"""Stories of friction rules declared in a map: each kind of rule on a few events, and a rule that
exists only in a map file firing through the pure pipeline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from schemas.events import TouchpointEventBase
from schemas.journeymap import DEFAULT_MAP_PATH, load_journey_map, parse_journey_map
from streams.core.pipeline import Pipeline
from tests.streams.story import Story, at, email, event

ANA: dict[str, Any] = {"email_hash": email(7)}


def map_with(*rules: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_MAP_PATH.read_text())
    raw["friction_rules"] = list(rules)
    return raw


def story_with(*rules: dict[str, Any]) -> Story:
    story = Story()
    story.pipeline = Pipeline(parse_journey_map(map_with(*rules), "test map"))
    return story


def web(event_type: str, when: datetime, event_id: str = "", touchpoint: str = "web.checkout",
        **measures: Any) -> TouchpointEventBase:
    return event("web", event_type, when, touchpoint, event_id=event_id, **ANA, **measures)


def test_occurrence_fires_on_each_matching_event_attributed_to_the_declared_touchpoint() -> None:
    story = story_with({"id": "web_error", "kind": "occurrence", "severity": "high", "touchpoint": "web.help",
                        "when": {"channel": "web", "event_types": ["error"], "measures": {"error_kind": ["payment"]}}})
    story.send(web("error", at(0), "x1", error_kind="payment", error_code="card_declined"),
               web("error", at(0, minutes=5), "x2", error_kind="http", error_code="500"), web("page_view", at(1)))
    [f] = story.frictions("web_error")
    assert (f["evidence"], f["severity"], f["touchpoint"]) == (["x1"], "high", "web.help")


def test_threshold_with_plain_numbers_and_bands() -> None:
    story = story_with({"id": "slow_page", "kind": "threshold", "when": {"channel": "web"}, "measure": "dwell_s",
                        "above": 120, "severity": {"default": "low", "bands": [{"above": "600", "severity": "high"}]}})
    story.send(web("page_view", at(0), "d1", dwell_s=100.0), web("page_view", at(0, 1), "d2", dwell_s=200.0),
               web("page_view", at(0, 2), "d3", dwell_s=900.0))
    assert sorted((f["evidence"][0], f["severity"], f["threshold"]) for f in story.frictions("slow_page")) == [
        ("d2", "low", 120.0), ("d3", "high", 120.0)]


def test_absence_of_a_callback_after_an_abandoned_ivr() -> None:
    rule = {"id": "no_callback", "kind": "absence", "within": "2h",
            "first": {"channel": "call_centre", "event_types": ["ivr_abandoned"]},
            "then": {"channel": "call_centre", "event_types": ["callback"]}}
    story = story_with(rule)
    story.send(event("call_centre", "ivr_abandoned", at(0), event_id="i1", **ANA),
               event("call_centre", "callback", at(0, hours=1), **ANA),
               event("call_centre", "ivr_abandoned", at(1), event_id="i3", **ANA))
    assert story.frictions("no_callback") == []  # the second one's window is still open
    story.send(event("web", "page_view", at(1, hours=3), "web.content", **ANA))
    assert [f["evidence"] for f in story.frictions("no_callback")] == [["i3"]]


def test_sequence_chat_after_error_within_the_window_with_severity_by_elapsed_time() -> None:
    rule = {"id": "chat_after_error", "kind": "sequence", "within": "30m",
            "first": {"channel": "web", "event_types": ["error"]},
            "then": {"channel": "web", "event_types": ["chat_started"]},
            "severity": {"default": "medium", "bands": [{"at_most": "5m", "severity": "high"}]}}
    story = story_with(rule)
    story.send(web("error", at(0), "c1", error_kind="payment"), web("chat_started", at(0, minutes=3), "c2"),
               web("error", at(1), "c3", error_kind="http"), web("chat_started", at(1, minutes=20), "c4"),
               web("error", at(2), "c5", error_kind="http"), web("chat_started", at(2, minutes=45), "c6"))
    found = sorted((f["evidence"], f["severity"], f["measure"]) for f in story.frictions("chat_after_error"))
    assert found == [(["c1", "c2"], "high", 3.0), (["c3", "c4"], "medium", 20.0)]


CHECKOUT_PATH = [{"channel": "web", "event_types": ["checkout_step"], "measures": {"checkout_step": [n]}}
                 for n in (1, 2, 3)]


def test_loop_back_to_an_earlier_checkout_step_twice_in_a_session() -> None:
    story = story_with({"id": "checkout_loop", "kind": "loop", "path": CHECKOUT_PATH, "times": 2})
    steps = [1, 2, 3, 2, 3, 1, 2]  # back at the 4th and the 6th step
    story.send(*(web("checkout_step", at(0, minutes=i), f"s{i}", checkout_step=n) for i, n in enumerate(steps)))
    [f] = story.frictions("checkout_loop")
    assert f["evidence"] == ["s3", "s5"] and f["measure"] == 2.0
    once_per_session = story_with({"id": "checkout_loop", "kind": "loop", "path": CHECKOUT_PATH, "times": 2})
    once_per_session.send(*(web("checkout_step", at(0, hours=i), f"t{i}", checkout_step=n)  # an hour apart
                            for i, n in enumerate(steps)))
    assert once_per_session.frictions("checkout_loop") == []


def test_repetition_of_the_same_payment_error() -> None:
    rule = {"id": "payment_retries", "kind": "repetition", "times": 3, "within": "15m", "same": ["error_code"],
            "when": {"channel": "web", "event_types": ["error"], "measures": {"error_kind": ["payment"]}}}
    story = story_with(rule)
    codes = ["card_declined", "expired", "card_declined", "card_declined"]
    story.send(*(web("error", at(0, minutes=2 * i), f"p{i}", error_kind="payment", error_code=c)
                 for i, c in enumerate(codes)),
               *(web("error", at(1, minutes=10 * i), f"q{i}", error_kind="payment", error_code="expired")
                 for i in range(3)))  # 20 minutes from first to third: not within 15
    [f] = story.frictions("payment_retries")
    assert f["evidence"] == ["p0", "p2", "p3"] and f["touchpoint"] == "web.checkout"


def test_gap_between_matching_events_without_a_phase_to_stop_it() -> None:
    story = story_with({"id": "quiet_store", "kind": "gap", "longer_than": "3d", "when": {"channel": "store"},
                        "severity": "low"})
    story.send(event("store", "visit", at(0), event_id="g1", **ANA), event("web", "page_view", at(2), **ANA),
               event("store", "visit", at(4), event_id="g2", **ANA), event("store", "purchase", at(5),
                                                                            "store.checkout", **ANA))
    [f] = story.frictions("quiet_store")
    assert f["evidence"] == ["g1", "g2"] and f["measure"] == 4.0 and f["threshold"] == 3.0


def test_a_long_absence_window_is_judged_after_the_journey_it_started_in_has_closed() -> None:
    """The stitcher reuses a settled journey's frictions: a rule's window must count as unsettled time."""
    story = story_with({"id": "no_return", "kind": "absence", "within": "40d",
                        "first": {"channel": "store", "event_types": ["purchase"]},
                        "then": {"channel": "store", "event_types": ["return"]}})
    story.send(event("store", "purchase", at(0), "store.checkout", event_id="b1", **ANA),
               event("web", "page_view", at(35), "web.content", **ANA))  # a new journey: clock at day 35
    assert story.frictions("no_return") == []
    story.send(event("web", "page_view", at(41), "web.content", **ANA))
    assert [f["evidence"] for f in story.frictions("no_return")] == [["b1"]]


def test_a_rule_declared_only_in_a_map_file_fires(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_MAP_PATH.read_text())
    raw["friction_rules"].append({"id": "email_complaint", "kind": "occurrence",
                                  "when": {"channel": "email", "event_types": ["complaint"]}})
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw))
    story = Story()
    story.pipeline = Pipeline(load_journey_map(path))
    story.send(event("email", "complaint", at(0), "email.campaign", event_id="m1", **ANA),
               event("call_centre", "call_answered", at(0, 1), wait_s=400.0, **ANA))
    assert [f["evidence"] for f in story.frictions("email_complaint")] == [["m1"]]
    assert len(story.frictions("long_wait")) == 1  # the shipped rules still run beside it


def test_a_map_without_rules_keeps_the_shipped_ones_and_an_empty_list_means_none() -> None:
    raw = map_with()
    assert parse_journey_map(raw).friction_rules == ()
    del raw["friction_rules"]
    assert [r.id for r in parse_journey_map(raw).friction_rules] == [r.id for r in load_journey_map().friction_rules]
