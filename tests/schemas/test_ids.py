"""The contract's ids are the ones the stream core computes: one definition, no drift."""

from __future__ import annotations

from schemas.ids import customer_id_for, friction_id_for, journey_id_for, link_id_for, short_hash, step_id_for
from streams.core import devices
from streams.core.friction import Friction
from streams.core.identity_fold import record
from tests.streams.story import Story, at, event


def test_short_hash_is_sixteen_hex_of_sha256() -> None:
    assert short_hash("abc") == "ba7816bf8f01cfea"


def test_the_core_names_customers_frictions_and_links_as_the_contract_does() -> None:
    assert devices.customer_id_for("email_hash:aa") == customer_id_for("email_hash:aa")
    friction = Friction("long_wait", [], "high", ("e2", "e1"), 0, "call_centre.support")
    assert friction.friction_id == friction_id_for("long_wait", ["e1", "e2"])
    link = record("merge", "cust-1", "cust-2", ("a:1", "b:2"), "login", [0, "e9", "a:1", "b:2", "login"])
    assert link.link_id == link_id_for("merge", "login", "e9", ("a:1", "b:2"))


def test_journeys_and_steps_carry_the_contract_ids() -> None:
    story = Story()
    story.send(event("web", "page_view", at(), event_id="e1", anonymous_id="anna"))
    journey, = story.journeys()
    assert journey["journey_id"] == journey_id_for(journey["customer_id"], "e1")
    assert story.step_ids(journey) == [step_id_for("e1")]
