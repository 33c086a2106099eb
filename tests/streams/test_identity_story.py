"""Stories of identity: links by evidence, merges with retroactive recombination, guards."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from schemas.events import TouchpointEventBase
from schemas.outputs import JourneySnapshot
from streams.core.identity import customer_id_for
from tests.streams.story import Story, at, email, event

ANNA_MAIL, BEN_MAIL = email(1), email(2)


def test_a_login_links_the_cookie_to_the_email_and_keeps_one_customer() -> None:
    story = Story()
    story.send(event("web", "page_view", at(0), "web.content", event_id="p1", anonymous_id="c-1"),
               event("web", "login", at(0, hours=1), "web.account", event_id="p2", anonymous_id="c-1",
                     email_hash=ANNA_MAIL))
    [link] = story.links("link")
    assert link.rule == "web_login" and link.evidence_event_id == "p2"
    [journey] = story.journeys()
    assert journey["customer_id"] == customer_id_for("anonymous_id:c-1") and journey["events"] == 2


def test_a_merge_retracts_the_absorbed_journeys_and_re_emits_the_survivor_with_all_events() -> None:
    story = Story()
    story.send(event("web", "page_view", at(0), "web.content", event_id="m1", anonymous_id="c-2"),
               event("store", "purchase", at(1), "store.checkout", event_id="m2", loyalty_id="L9",
                     email_hash=ANNA_MAIL),
               event("web", "page_view", at(2), "web.content", event_id="m3", email_hash=ANNA_MAIL))
    assert len(story.journeys()) == 2
    before = {j["customer_id"]: j for j in story.journeys()}
    out = story.send(event("web", "login", at(3), "web.account", event_id="m4", anonymous_id="c-2",
                           email_hash=ANNA_MAIL))
    [merge] = story.links("merge")
    survivor = min(before)
    assert merge.customer_id == survivor and merge.merged_customer_id == max(before)
    retracted = [o for o in out if isinstance(o, JourneySnapshot) and o.retracted]
    # the absorbed journey goes; the survivor's is re-cut (its first event changed), so it goes too
    assert {r.journey_id for r in retracted} == {j["journey_id"] for j in before.values()}
    [journey] = story.journeys()
    assert journey["customer_id"] == survivor
    assert story.step_ids(journey) == ["m1", "m2", "m3", "m4"]
    assert journey["version"] > max(j["version"] for j in before.values())
    assert {s["customer_id"] for s in story.steps()} == {survivor}


def test_the_merge_outcome_does_not_depend_on_arrival_order() -> None:
    events = [event("web", "page_view", at(0), "web.content", event_id="o1", anonymous_id="c-3"),
              event("store", "purchase", at(1), "store.checkout", event_id="o2", loyalty_id="L3", email_hash=BEN_MAIL),
              event("web", "login", at(2), "web.account", event_id="o3", anonymous_id="c-3", email_hash=BEN_MAIL),
              event("store", "visit", at(3), "store.floor", event_id="o4", loyalty_id="L3")]
    outcomes = []
    for order in (events, events[::-1], [events[2], events[0], events[3], events[1]]):
        story = Story()
        story.send(*order)
        outcomes.append([(j["customer_id"], tuple(story.step_ids(j))) for j in story.journeys()])
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert len(outcomes[0]) == 1 and outcomes[0][0][1] == ("o1", "o2", "o3", "o4")


def test_a_shared_device_is_flagged_and_does_not_fuse_two_people() -> None:
    story = Story()
    story.send(event("web", "login", at(0), "web.account", event_id="s1", anonymous_id="family-ipad",
                     email_hash=ANNA_MAIL),
               event("web", "login", at(1), "web.account", event_id="s2", anonymous_id="family-ipad",
                     email_hash=BEN_MAIL))
    [flag] = story.links("shared_device")
    assert flag.evidence_event_id == "s2" and flag.rule == "web_login"
    assert not story.links("merge")
    assert {j["customer_id"] for j in story.journeys()} == {customer_id_for(f"email_hash:{ANNA_MAIL}"),
                                                           customer_id_for(f"email_hash:{BEN_MAIL}")}


def test_two_different_crm_ids_are_never_merged() -> None:
    story = Story()
    story.send(event("call_centre", "call_answered", at(0), event_id="r1", crm_id="CRM-1", email_hash=ANNA_MAIL),
               event("call_centre", "call_answered", at(1), event_id="r2", crm_id="CRM-2", phone_hash=email(7)),
               event("call_centre", "call_answered", at(2), event_id="r3", crm_id="CRM-2", email_hash=ANNA_MAIL))
    [refused] = story.links("cap_reached")
    assert refused.rule == "distinct_crm_ids" and refused.evidence_event_id == "r3"
    assert not story.links("merge")
    assert len({j["customer_id"] for j in story.journeys()}) == 2


def test_a_customer_holds_a_bounded_number_of_identifiers() -> None:
    story = Story()
    cap = story.pipeline.journey_map.identity.max_identifiers_per_customer
    for n in range(cap):
        story.send(event("store", "purchase", at(n), "store.checkout", loyalty_id="L-cap", email_hash=email(100 + n)))
    [refused] = story.links("cap_reached")
    assert refused.rule == "max_identifiers_per_customer"
    assert len(story.pipeline.members[customer_id_for("loyalty_id:L-cap")]) == cap


def test_an_event_goes_to_the_customer_of_its_strongest_identifier() -> None:
    story = Story()
    story.send(event("web", "page_view", at(0), "web.content", event_id="w1", anonymous_id="c-9"),
               event("store", "visit", at(1), "store.floor", event_id="w2", anonymous_id="c-9", loyalty_id="L-9"))
    owners = {s["event"]["event_id"]: s["customer_id"] for s in story.steps()}
    assert owners == {"w1": customer_id_for("anonymous_id:c-9"), "w2": customer_id_for("loyalty_id:L-9")}


def _family_tablet() -> list[TouchpointEventBase]:
    """Anna signs in on the family tablet at 12:00 and views a product at 12:01 (the view carries
    only the tablet's id); Ben signs in on it at 20:00, then buys in a store with his loyalty card."""
    noon = at(0, hours=3)
    return [event("web", "login", noon, "web.account", event_id="t-anna-in", anonymous_id="family-tablet",
                  email_hash=ANNA_MAIL),
            event("web", "page_view", noon + timedelta(minutes=1), "web.product", event_id="t-anna-view",
                  anonymous_id="family-tablet"),
            event("web", "login", noon + timedelta(hours=8), "web.account", event_id="t-ben-in",
                  anonymous_id="family-tablet", email_hash=BEN_MAIL),
            event("store", "purchase", noon + timedelta(hours=9), "store.checkout", event_id="t-ben-buys",
                  loyalty_id="L-ben", email_hash=BEN_MAIL)]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))), ids=str)
def test_a_shared_tablet_gives_each_view_to_who_was_signed_in_whatever_the_arrival_order(
        order: tuple[int, ...]) -> None:
    events = _family_tablet()
    story = Story()
    story.send(*(events[i] for i in order))
    owner = {s["event"]["event_id"]: s["customer_id"] for s in story.steps()}
    assert owner["t-anna-view"] == owner["t-anna-in"]
    assert owner["t-ben-in"] == owner["t-ben-buys"] != owner["t-anna-in"]
    flags = {link.link_id: link for link in story.links("shared_device")}
    assert [link.evidence_event_id for link in flags.values()] == ["t-ben-in"]
    assert len(story.journeys()) == 2


def test_a_late_sign_in_moves_the_views_after_it_and_says_so() -> None:
    events = _family_tablet()
    later_view = event("web", "page_view", at(0, hours=11, minutes=5), "web.product", event_id="t-ben-view",
                       anonymous_id="family-tablet")
    story = Story()
    story.send(events[0], events[1], later_view)
    anna = story.pipeline.owner[f"email_hash:{ANNA_MAIL}"]
    assert {s["customer_id"] for s in story.steps()} == {anna}
    before = {j["journey_id"]: j["version"] for j in story.journeys()}
    story.send(events[2])
    owner = {s["event"]["event_id"]: s["customer_id"] for s in story.steps()}
    ben = owner["t-ben-in"]
    assert owner["t-ben-view"] == ben != anna and owner["t-anna-view"] == anna
    [moved] = story.links("move")
    assert (moved.merged_customer_id, moved.customer_id, moved.identifiers) == (anna, ben, ("anonymous_id:family-tablet",))
    assert moved.evidence_event_id == "t-ben-in"
    [annas] = [j for j in story.journeys() if j["customer_id"] == anna]
    assert annas["version"] > max(before.values())


def test_anonymous_browsing_long_after_a_sign_in_stays_with_the_device() -> None:
    window = Story().pipeline.journey_map.identity.sign_in_window_hours
    story = Story()
    story.send(event("web", "login", at(0), "web.account", event_id="w-anna", anonymous_id="tab", email_hash=ANNA_MAIL),
               event("web", "login", at(0, hours=1), "web.account", event_id="w-ben", anonymous_id="tab",
                     email_hash=BEN_MAIL),
               event("web", "page_view", at(0, hours=1 + window, minutes=1), "web.product", event_id="w-late",
                     anonymous_id="tab"))
    owner = {s["event"]["event_id"]: s["customer_id"] for s in story.steps()}
    assert owner["w-late"] == owner["w-anna"] != owner["w-ben"]
