"""The shipped map's rules find exactly what the eleven Python rules found, on any journey.

The ground-truth end-to-end test checks the frictions the simulator injects; this checks the edges
it never makes: ties in time, windows met to the millisecond, late replies, retractions by a moving
clock. The oracle is the former Python implementation (tests/streams/friction_oracle.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.journeymap import load_journey_map
from streams.core.boundaries import cut_journeys
from streams.core.friction import detect
from streams.core.records import order_key, record_of
from tests.streams.friction_oracle import detect_as_before
from tests.streams.story import START, email, event

MAP = load_journey_map()
MINUTE, HOUR, DAY = 60, 3600, 86400
# Steps between events, in seconds: ties, the rules' windows exactly, just inside and just outside.
STEPS_S = [0, 0, 60, 29 * MINUTE, 30 * MINUTE, 31 * MINUTE, 3 * HOUR, 24 * HOUR, 25 * HOUR, 7 * DAY, 8 * DAY, 15 * DAY]
ANY: dict[str, Any] = {"email_hash": email(3)}
maybe = st.none().__or__


Touch = tuple[str, str, str, dict[str, Any]]


def _kinds() -> list[st.SearchStrategy[Touch]]:
    threads = st.just("T1") | st.none()
    return [
        st.builds(lambda w, t, r: ("call_centre", "call_answered", "call_centre.support",
                                   {"wait_s": w, "transfers": t, "resolved": r}),
                  maybe(st.sampled_from([200.0, 300.0, 301.0, 600.0, 601.0])), maybe(st.sampled_from([0, 1, 2, 3, 4])),
                  maybe(st.booleans())),
        st.just(("call_centre", "call_abandoned", "call_centre.sales", {})),
        st.builds(lambda q: ("store", "visit", "store.floor", {"queue_wait_s": q}), maybe(st.sampled_from([600.0, 601.0]))),
        st.sampled_from([("store", "service_desk", "store.service_desk", {}),
                         ("store", "purchase", "store.checkout", {}),
                         ("web", "checkout_step", "web.checkout", {"checkout_step": 1}),
                         ("web", "order_placed", "web.checkout", {})]),
        st.builds(lambda n: ("web", "page_view", "web.content", {"navigation_ease": n}), maybe(st.integers(1, 5))),
        st.builds(lambda t: ("email", "received", "email.support", {"direction": "inbound", "thread_id": t}), threads),
        st.builds(lambda t, d: ("email", "replied", "email.support", {"direction": d, "thread_id": t}),
                  threads, st.sampled_from(["outbound", "inbound"])),
        st.builds(lambda c, n, a: ("email", "feedback", "email.service",
                                   {"feedback": {"csat": c, "nps": n, "about_touchpoint": a, "comment": "x"}}),
                  maybe(st.integers(1, 5)), maybe(st.integers(0, 10)), maybe(st.just("store.checkout")))]


def _journey() -> st.SearchStrategy[list[tuple[int, Touch]]]:
    """A few kinds of event per example, so that the ones a rule relates meet often."""
    few = st.lists(st.sampled_from(_kinds()), min_size=1, max_size=3)
    return few.flatmap(lambda kinds: st.lists(st.tuples(st.sampled_from(STEPS_S), st.one_of(kinds)),
                                              min_size=1, max_size=12))


@settings(max_examples=500, deadline=None)
@given(_journey(),
       st.permutations(range(12)), st.sampled_from([0, 29 * MINUTE, 31 * MINUTE, 25 * HOUR, 20 * DAY]))
def test_the_map_rules_find_what_the_python_rules_found(touches: list[tuple[int, Touch]],
                                                       ids: list[int], clock_after_s: int) -> None:
    records, elapsed_s = [], 0
    for i, (step_s, (channel, event_type, touchpoint, fields)) in enumerate(touches):
        elapsed_s += step_s
        measures = {k: v for k, v in fields.items() if v is not None and k != "feedback"}
        e = event(channel, event_type, START + timedelta(seconds=elapsed_s), touchpoint, event_id=f"e{ids[i]:02d}",
                  feedback=fields.get("feedback"), **ANY, **measures)
        records.append(record_of(e, MAP))
    records.sort(key=order_key)
    clock_ms = records[-1][0] + clock_after_s * 1000
    for journey in cut_journeys("c", records, MAP):
        assert detect(journey, clock_ms, MAP) == detect_as_before(journey, clock_ms, MAP.friction)
