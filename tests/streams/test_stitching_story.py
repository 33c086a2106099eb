"""Stories of journey stitching: order, lateness, duplicates, journey boundaries, phases, versions."""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from schemas.outputs import JourneySnapshot, JourneyStep
from streams.codecs import decode_state as decode
from streams.codecs import encode_state as encode
from streams.core.records import record_of
from tests.streams.story import Story, at, event

ANNA: dict[str, Any] = {"anonymous_id": "anna-phone"}


def test_a_journey_is_research_compare_purchase_in_event_time() -> None:
    story = Story()
    story.send(event("web", "page_view", at(0), "web.content", event_id="a1", **ANNA),
               event("web", "compare", at(1), "web.compare", event_id="a2", **ANNA),
               event("web", "checkout_step", at(2), "web.checkout", event_id="a3", checkout_step=1, **ANNA),
               event("web", "order_placed", at(2, minutes=5), "web.checkout", event_id="a4", **ANNA))
    [journey] = story.journeys()
    assert story.step_ids(journey) == ["a1", "a2", "a3", "a4"]
    assert journey["furthest_phase"] == "purchase" and journey["converted"]
    assert list(journey["phase_first_at"]) == ["research", "compare", "purchase"]
    assert journey["channel_switches"] == 0 and journey["events"] == 4


def test_out_of_order_events_are_stitched_by_event_time() -> None:
    story = Story()
    story.send(event("web", "compare", at(1), "web.compare", event_id="b2", **ANNA),
               event("web", "page_view", at(0), "web.content", event_id="b1", **ANNA),
               event("call_centre", "call_answered", at(0, hours=5), "call_centre.sales", event_id="b15", **ANNA))
    [journey] = story.journeys()
    assert story.step_ids(journey) == ["b1", "b15", "b2"]
    assert journey["phase_first_at"]["research"].startswith("2026-03-02T09:00")
    assert journey["channel_switches"] == 2
    assert journey["channels"] == ["web", "call_centre"]


def test_a_late_event_within_the_allowed_lateness_revises_the_journey() -> None:
    story = Story()
    story.send(event("web", "page_view", at(0), "web.content", event_id="c1", **ANNA),
               event("web", "page_view", at(2), "web.content", event_id="c3", **ANNA))
    version_before = story.journeys()[0]["version"]
    out = story.send(event("store", "visit", at(1), "store.floor", event_id="c2", received=at(2, hours=1), **ANNA))
    [journey] = story.journeys()
    assert story.step_ids(journey) == ["c1", "c2", "c3"]
    assert journey["version"] > version_before and journey["furthest_phase"] == "compare"
    moved = [o for o in out if isinstance(o, JourneyStep)]
    assert {s.event.event_id for s in moved} == {"c2", "c3"}  # c3 moved from index 1 to 2


def test_an_event_beyond_the_allowed_lateness_is_recorded_late_and_changes_nothing_but_the_path() -> None:
    # lateness is judged at arrival (received time): 5 days behind the customer's clock > 72 h
    story = Story()
    story.send(event("web", "page_view", at(0), "web.content", event_id="d1", **ANNA),
               event("web", "page_view", at(10), "web.content", event_id="d3", **ANNA))
    [before] = story.journeys()
    out = story.send(event("store", "visit", at(5), "store.floor", event_id="d2", received=at(10, hours=1), **ANNA))
    [after] = story.journeys()
    unrevised = ("version", "path")
    assert {k: v for k, v in after.items() if k not in unrevised} == {k: v for k, v in before.items() if k not in unrevised}
    # the journey is not re-stitched, but the warehouse's touchpoints carry its id on the late event, and so
    # does the path paths read (schemas.outputs.JourneyPath): the snapshot is re-sent with it
    assert before["path"]["touchpoints"] == ["web.content", "web.content"]
    assert after["path"]["touchpoints"] == ["web.content", "web.content", "store.floor"]
    late_step, snapshot = out
    assert isinstance(late_step, JourneyStep) and late_step.late
    assert late_step.journey_id == before["journey_id"] and late_step.step_index == 1
    assert isinstance(snapshot, JourneySnapshot) and snapshot.path is not None and snapshot.version > before["version"]


def test_a_duplicate_changes_nothing_and_re_sends_current_records() -> None:
    story = Story()
    first = event("web", "page_view", at(0), "web.content", event_id="e1", **ANNA)
    story.send(first)
    state_before = encode(story.pipeline.customers[story.journeys()[0]["customer_id"]])
    out = story.send(first)
    assert encode(story.pipeline.customers[story.journeys()[0]["customer_id"]]) == state_before
    assert {type(o) for o in out} == {JourneyStep, JourneySnapshot}
    assert all(o.version == 1 for o in out if isinstance(o, JourneyStep | JourneySnapshot))


def test_a_gap_longer_than_the_inactivity_gap_starts_a_new_journey() -> None:
    story = Story()
    story.send(event("web", "page_view", at(0), "web.content", event_id="f1", **ANNA),
               event("web", "page_view", at(30), "web.content", event_id="f2", **ANNA),
               event("web", "page_view", at(61), "web.content", event_id="f3", **ANNA))
    first, second = story.journeys()
    assert story.step_ids(first) == ["f1", "f2"] and story.step_ids(second) == ["f3"]
    assert first["status"] == "closed" and second["status"] == "active"


def test_late_events_re_cut_journeys_within_lateness_and_not_beyond() -> None:
    story = Story()
    story.send(event("web", "page_view", at(0), "web.content", event_id="g1", **ANNA),
               event("web", "page_view", at(40), "web.content", event_id="g3", **ANNA),
               event("web", "page_view", at(41), "web.content", event_id="g4", **ANNA))
    assert len(story.journeys()) == 2
    first_second = story.journeys()[1]["journey_id"]
    story.send(event("web", "page_view", at(39), "web.content", event_id="g2", received=at(41, hours=1), **ANNA))
    assert len(story.journeys()) == 2  # 39 days after g1 is still a gap: g2 opens the second journey
    assert first_second not in {j["journey_id"] for j in story.journeys()}  # re-cut: first event changed
    story.send(event("web", "page_view", at(20), "web.content", event_id="g15", received=at(41, hours=2), **ANNA))
    assert [len(story.step_ids(j)) for j in story.journeys()] == [1, 3]  # g15 was too late: recorded only
    story2 = Story()
    story2.send(event("web", "page_view", at(0), "web.content", event_id="h1", **ANNA),
                event("web", "page_view", at(31), "web.content", event_id="h3", **ANNA),
                event("web", "page_view", at(30), "web.content", event_id="h2", received=at(31, hours=1), **ANNA))
    [journey] = story2.journeys()
    assert story2.step_ids(journey) == ["h1", "h2", "h3"]


def test_current_keeps_the_phase_and_a_first_current_event_has_none() -> None:
    story = Story()
    story.send(event("web", "login", at(0), "web.account", event_id="i1", **ANNA),
               event("web", "page_view", at(0, hours=1), "web.help", event_id="i2", **ANNA),
               event("web", "survey", at(0, hours=2), "web.help", event_id="i3",
                     feedback={"csat": 4}, **ANNA))
    [a, b, c] = story.steps()
    assert (a["phase"], b["phase"], c["phase"]) == ("none", "after_sales", "after_sales")
    assert story.journeys()[0]["segment"] == "unknown"


def test_segment_is_the_latest_known_and_versions_never_go_down() -> None:
    story = Story()
    story.send(event("web", "page_view", at(0), "web.content", segment="family", **ANNA),
               event("web", "page_view", at(1), "web.content", segment="pro", **ANNA),
               event("web", "page_view", at(2), "web.content", **ANNA))
    assert story.journeys()[0]["segment"] == "pro"
    versions = [o.version for o in story.emitted if isinstance(o, JourneySnapshot)]
    assert versions == sorted(versions)


def test_lateness_does_not_depend_on_the_order_the_worker_reads_events() -> None:
    early = event("store", "visit", at(5), "store.floor", event_id="x2", received=at(5, hours=1), **ANNA)
    later = event("web", "page_view", at(10), "web.content", event_id="x3", **ANNA)
    story = Story()
    story.send(later, early)  # read out of arrival order: x2 arrived first, so it is not late
    assert [s["late"] for s in story.steps()] == [False, False]


def test_state_round_trips_and_stays_compact() -> None:
    story = Story()
    for day in range(20):
        story.send(event("web", "page_view", at(day), "web.product", dwell_s=30.0, path="/products/kettle", **ANNA))
    [state] = story.pipeline.customers.values()
    blob = encode(state)
    assert decode(blob) == state
    assert len(blob) < 20 * 200
    assert record_of(event("web", "page_view", at(0), "web.product", **ANNA), story.pipeline.journey_map)[5] == "research"


def test_a_state_stored_deflated_by_an_earlier_worker_still_decodes() -> None:
    story = Story()
    story.send(event("web", "page_view", at(0), "web.product", dwell_s=30.0, **ANNA))
    [state] = story.pipeline.customers.values()
    earlier = zlib.compress(orjson.dumps([state.revision, state.events, state.merged_into]), 1)
    assert decode(earlier) == state == decode(encode(state))
