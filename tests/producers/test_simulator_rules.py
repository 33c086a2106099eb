"""The simulator's ground truth, checked against the rules of docs/journeys.md recomputed here.

An independent reading of the friction table and the identity evidence rules: if the simulator
let any measure cross a threshold by accident, or left an identifier unlinked, these fail.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from producers.simulator import FRICTION_RATES, Simulation, simulate
from producers.simulator.timeline import RULES
from producers.simulator.truth import PersonTruth
from schemas.journeymap import CURRENT, JourneyMap, load_journey_map

Found = tuple[str, tuple[str, ...]]  # (rule, sorted evidence ids)
Event = Any  # a channel's concrete event model, read through its typed measures


@pytest.fixture(scope="module")
def journey_map() -> JourneyMap:
    return load_journey_map()


@pytest.fixture(scope="module")
def sim(journey_map: JourneyMap) -> Simulation:
    return simulate(600, 23, 240, datetime(2026, 2, 1, tzinfo=UTC), journey_map, b"rules-secret")


def single_event_rules(events: list[Event], m: JourneyMap) -> Iterator[Found]:
    limits = m.friction
    for e in events:
        x, fb = e.measures, e.feedback
        hits = [("long_wait", e.channel == "call_centre" and (x.wait_s or 0) > limits.call_wait_s),
                ("transfers", e.channel == "call_centre" and (x.transfers or 0) >= limits.transfers),
                ("long_queue", e.channel == "store" and (x.queue_wait_s or 0) > limits.store_queue_s),
                ("poor_navigation", e.channel == "web" and x.navigation_ease is not None
                 and x.navigation_ease <= limits.navigation_ease_max),
                ("low_csat", fb is not None and fb.csat is not None and fb.csat <= limits.csat_max),
                ("nps_detractor", fb is not None and fb.nps is not None and fb.nps <= limits.nps_detractor_max)]
        yield from ((rule, (e.event_id,)) for rule, hit in hits if hit)


def abandoned(events: list[Event], clock: datetime, m: JourneyMap) -> list[Event]:
    window = timedelta(minutes=m.friction.checkout_abandon_min)
    orders = [e.event_time for e in events if e.event_type == "order_placed"]
    firsts, previous = [], None
    for step in (e for e in events if e.channel == "web" and e.event_type == "checkout_step"):
        starts_attempt = previous is None or step.event_time - previous.event_time > window
        ordered = any(step.event_time <= t <= step.event_time + window for t in orders)
        if starts_attempt and not ordered and clock > step.event_time + window:
            firsts.append(step)
        previous = step
    return firsts


def sequence_rules(events: list[Event], clock: datetime, m: JourneyMap) -> Iterator[Found]:
    limits = m.friction
    for step in abandoned(events, clock, m):
        yield "abandoned_checkout", (step.event_id,)
        hop = [e for e in events if e.channel == "call_centre"
               and step.event_time < e.event_time <= step.event_time + timedelta(hours=limits.channel_hop_h)]
        if hop:
            yield "channel_hop", tuple(sorted((step.event_id, hop[0].event_id)))
    unresolved = None
    for e in events:
        contact = e.channel == "call_centre" or e.event_type in ("received", "service_desk")
        if unresolved is not None and contact and e.event_time - unresolved.event_time <= timedelta(
                days=limits.repeat_contact_days):
            yield "repeat_contact", tuple(sorted((unresolved.event_id, e.event_id)))
        if e.channel == "call_centre" and e.measures.resolved is False:
            unresolved = e
    yield from unanswered(events, clock, m)
    yield from stalls(events, m)


def unanswered(events: list[Event], clock: datetime, m: JourneyMap) -> Iterator[Found]:
    window = timedelta(hours=m.friction.email_unanswered_h)
    for mail in (e for e in events if e.event_type == "received"):
        replies = [e.event_time for e in events if e.event_type == "replied"
                   and e.measures.thread_id == mail.measures.thread_id and e.event_time >= mail.event_time]
        late = replies and min(replies) - mail.event_time > window
        if late or (not replies and clock > mail.event_time + window):
            yield "email_unanswered", (mail.event_id,)


def stalls(events: list[Event], m: JourneyMap) -> Iterator[Found]:
    converted, current = False, None
    for before, after in pairwise(events):
        phase = m.phase_for(before.channel, before.event_type, before.touchpoint, before.measures.model_dump())
        current = current if phase == CURRENT else phase
        converted = converted or current == "purchase"
        if not converted and after.event_time - before.event_time > timedelta(days=m.friction.stalled_days):
            yield "stalled", tuple(sorted((before.event_id, after.event_id)))


def recomputed(person: PersonTruth, events: dict[str, Event], m: JourneyMap) -> set[Found]:
    clock = max(events[i].event_time for i in person.event_ids)
    found: set[Found] = set()
    for journey in person.journeys:
        ordered = [events[i] for i in journey.event_ids]
        found |= set(single_event_rules(ordered, m)) | set(sequence_rules(ordered, clock, m))
    return found


def test_the_only_friction_is_the_injected_friction(sim: Simulation, journey_map: JourneyMap) -> None:
    events = {e.event_id: e for e in sim.events()}
    for person in sim.truth.persons:
        truth = {(f.rule, f.evidence) for f in person.friction}
        assert recomputed(person, events, journey_map) == truth, person.person_id


def test_every_rule_is_injected(sim: Simulation) -> None:
    assert set(sim.truth.totals.friction_by_rule) == set(RULES) == set(FRICTION_RATES)
    assert all(n >= 3 for n in sim.truth.totals.friction_by_rule.values())


def test_no_friction_without_injection(journey_map: JourneyMap) -> None:
    calm = simulate(150, 3, 200, datetime(2026, 2, 1, tzinfo=UTC), journey_map, b"k", friction_rates={})
    events = {e.event_id: e for e in calm.events()}
    assert sum(calm.truth.totals.friction_by_rule.values()) == 0
    assert all(not recomputed(p, events, journey_map) for p in calm.truth.persons)


class Graph:
    """Union-find over identifier keys; a device joins at most one person (shared devices refused)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.personal: dict[str, bool] = {}  # root -> holds a non-device identifier

    def find(self, key: str) -> str:
        if key not in self.parent:
            self.parent[key] = key
            self.personal[key] = not key.startswith("anonymous_id:")
        while self.parent[key] != key:
            key = self.parent[key]
        return key

    def link(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        device = a.startswith("anonymous_id:") or b.startswith("anonymous_id:")
        if ra != rb and not (device and self.personal[ra] and self.personal[rb]):
            keep, gone = min(ra, rb), max(ra, rb)
            self.parent[gone] = keep
            self.personal[keep] = self.personal[keep] or self.personal[gone]


def resolve(events: list[Event], m: JourneyMap) -> Graph:
    graph = Graph()
    for e in sorted(events, key=lambda e: (e.event_time, e.event_id)):
        ids, keys = dict(e.identifiers.items()), e.identifiers.keys()
        for key in keys:
            graph.find(key)
        for rule in m.evidence_for(e.channel, e.event_type):
            for a, b in rule.links:
                if a in ids and b in ids:
                    graph.link(f"{a}:{ids[a]}", f"{b}:{ids[b]}")
    return graph


def test_identity_evidence_makes_each_person_one_customer(sim: Simulation, journey_map: JourneyMap) -> None:
    graph = resolve(sim.events(), journey_map)
    groups: dict[str, set[str]] = defaultdict(set)
    for key in graph.parent:
        groups[graph.find(key)].add(key)
    for person in sim.truth.persons:
        roots = {graph.find(k) for k in person.identifiers}
        assert len(roots) == 1, person.person_id
        members = groups[roots.pop()]
        assert set(person.identifiers) <= members <= set(person.identifiers) | set(person.shared_identifiers)


def test_shared_devices_never_fuse_two_people(sim: Simulation, journey_map: JourneyMap) -> None:
    events = {e.event_id: e for e in sim.events()}
    sharing = [p for p in sim.truth.persons if p.shared_identifiers]
    assert len(sharing) >= 2
    devices = {d for p in sharing for d in p.shared_identifiers}
    assert all(sum(d in p.shared_identifiers for p in sharing) == 2 for d in devices)
    for person in sharing:
        on_device = [events[i] for i in person.event_ids
                     if f"anonymous_id:{events[i].identifiers.anonymous_id}" in person.shared_identifiers]
        signed = [e for e in on_device if e.identifiers.email_hash]
        assert signed and all(f"email_hash:{e.identifiers.email_hash}" in person.identifiers for e in signed)
    graph = resolve(list(events.values()), journey_map)
    roots = [graph.find(p.identifiers[0]) for p in sharing]
    assert len(set(roots)) == len(sharing)


def test_anonymous_pages_on_a_shared_device_follow_their_own_sign_in(sim: Simulation) -> None:
    """Households browse the shared tablet anonymously right after signing in: the latest sign-in
    on the tablet before each anonymous page is its own person's, minutes before."""
    events = {e.event_id: e for e in sim.events()}
    person_of = {i: p for p in sim.truth.persons for i in p.event_ids}
    shared = {d.split(":", 1)[1] for p in sim.truth.persons for d in p.shared_identifiers}
    on_device = sorted((e for e in events.values() if e.identifiers.anonymous_id in shared),
                       key=lambda e: (e.identifiers.anonymous_id, e.event_time, e.event_id))
    anonymous = 0
    for before, page in pairwise(on_device):
        if page.identifiers.email_hash is None:
            anonymous += 1
            signed = [e for e in on_device if e.identifiers.anonymous_id == page.identifiers.anonymous_id
                      and e.identifiers.email_hash and (e.event_time, e.event_id) < (page.event_time, page.event_id)]
            assert signed and person_of[signed[-1].event_id] is person_of[page.event_id]
            assert page.event_time - signed[-1].event_time < timedelta(hours=1)
            assert before.identifiers.anonymous_id == page.identifiers.anonymous_id
    assert anonymous > 0
