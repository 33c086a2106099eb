"""The simulator's pure core: same seed, same traffic; valid events; personas; truth consistency."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from foundation.batches import key_hash
from producers.core import event_key, event_value
from producers.simulator import Simulation, simulate, wire
from producers.simulator.arrival import to_event
from producers.simulator.core import plan
from producers.simulator.parallel import SimulationArgs, simulated_in_child
from producers.simulator.personas import PERSONAS
from producers.simulator.timeline import phone_hash
from schemas.channels import WebEvent, WebMeasures
from schemas.events import Identifiers, TouchpointEventBase, derive_event_id
from schemas.journeymap import CURRENT, JourneyMap, load_journey_map
from schemas.pii import hash_phone
from schemas.trusted import construct
from schemas.validation import Rejection, validate

START = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = b"simulator-test-secret"


@pytest.fixture(scope="module")
def journey_map() -> JourneyMap:
    return load_journey_map()


@pytest.fixture(scope="module")
def sim(journey_map: JourneyMap) -> Simulation:
    return simulate(400, 11, 200, START, journey_map, SECRET)


def fingerprint(sim: Simulation) -> list[tuple[float, bytes]]:
    return [(d.arrival_s, d.payload if isinstance(d.payload, bytes) else d.payload.model_dump_json().encode())
            for d in sim.deliveries]


def test_same_seed_same_deliveries_and_truth(journey_map: JourneyMap) -> None:
    first = simulate(60, 5, 150, START, journey_map, SECRET)
    again = simulate(60, 5, 150, START, journey_map, SECRET)
    assert fingerprint(first) == fingerprint(again)
    assert first.truth.model_dump_json() == again.truth.model_dump_json()


def test_another_seed_other_traffic(journey_map: JourneyMap) -> None:
    first = simulate(60, 5, 150, START, journey_map, SECRET)
    other = simulate(60, 6, 150, START, journey_map, SECRET)
    ids = {e.event_id for e in first.events()}
    assert ids.isdisjoint(e.event_id for e in other.events())
    assert first.truth.model_dump_json() != other.truth.model_dump_json()


def test_every_persona_lives_and_segments_follow_the_source(sim: Simulation) -> None:
    assert {p.persona for p in sim.truth.persons} == set(PERSONAS)
    for person in sim.truth.persons:
        assert person.segment == ("unknown" if person.persona == "browser" else person.persona)
    for event in sim.events():
        anonymous = event.identifiers.keys() == [f"anonymous_id:{event.identifiers.anonymous_id}"]
        assert (event.segment is None) == anonymous, event


def test_every_event_is_valid_by_the_contract_and_the_map(sim: Simulation, journey_map: JourneyMap) -> None:
    events = sim.events()
    assert len(events) == sim.truth.totals.events
    for event in events:
        again = validate(event.model_dump_json().encode(), "test", journey_map)
        assert again == event, again
        assert event.source_id and event.event_id == derive_event_id(event.channel, event.source_id)


def test_every_delivery_passes_the_contract_except_the_malformed_ones(sim: Simulation,
                                                                     journey_map: JourneyMap) -> None:
    """The simulator builds its events without re-validating them (a trusted generator): every
    delivery, as it goes on the wire, must still be accepted unchanged, and only the malformed
    payloads rejected."""
    rejected = 0
    for delivery in sim.deliveries:
        wire = delivery.payload if isinstance(delivery.payload, bytes) else event_value(delivery.payload)
        result = validate(wire, "test", journey_map)
        if isinstance(delivery.payload, bytes):
            assert isinstance(result, Rejection)
            rejected += 1
        else:
            assert result == delivery.payload, result
            assert event_value(result) == wire
    assert rejected == sim.truth.totals.malformed


def test_the_wire_encoding_is_the_contract_models_json(sim: Simulation) -> None:
    """`journeys simulate` sends bytes written without a model: the same bytes and keys."""
    for history in sim.histories:
        for touch in (t for journey in history.journeys for t in journey):
            event = to_event(touch)
            assert wire.event_value(touch) == event_value(event)
            assert wire.event_key(touch) == event_key(event)


def test_the_child_sends_the_simulation_encoded_and_its_truth(journey_map: JourneyMap) -> None:
    expected = simulate(50, 8, 120, START, journey_map, SECRET)
    args = SimulationArgs(50, 8, 120, START, journey_map, SECRET)
    with simulated_in_child(args, chunk_size=97) as child:
        assert child.deliveries == len(expected.deliveries)
        sent = [record for chunk in child.chunks() for record in chunk]
        truth = child.truth()
    assert sent == [(d.channel, 0, None, d.payload) if isinstance(d.payload, bytes)
                    else (d.channel, key_hash(event_key(d.payload)), event_key(d.payload), event_value(d.payload))
                    for d in expected.deliveries]
    assert truth == expected.truth


def test_three_children_send_the_same_traffic_and_truth(journey_map: JourneyMap) -> None:
    """People are split over the children; merged in arrival order, their shares are the whole."""
    expected = simulate(31, 12, 120, START, journey_map, SECRET)
    with simulated_in_child(SimulationArgs(31, 12, 120, START, journey_map, SECRET), 64, workers=3) as child:
        sent = [record for chunk in child.chunks() for record in chunk]
        assert child.truth() == expected.truth
    assert [value for _, _, _, value in sent] == [
        d.payload if isinstance(d.payload, bytes) else event_value(d.payload) for d in expected.deliveries]


@pytest.mark.parametrize("truth_first", [True, False])
def test_the_truth_comes_first_or_with_the_chunks_and_is_the_same(journey_map: JourneyMap, truth_first: bool) -> None:
    """A paced run reads the truth before any delivery; a fast one gets it a slice per chunk.
    Three children for two people: one child plans nobody and sends only its end."""
    for customers in (2, 23):
        expected = simulate(customers, 5, 60, START, journey_map, SECRET)
        args = SimulationArgs(customers, 5, 60, START, journey_map, SECRET)
        with simulated_in_child(args, 10, truth_first=truth_first, workers=3) as child:
            truth = child.truth() if truth_first else None
            sent = [value for chunk in child.chunks() for _, _, _, value in chunk]
            assert (truth or child.truth()) == expected.truth
        assert sent == [d.payload if isinstance(d.payload, bytes) else event_value(d.payload)
                        for d in expected.deliveries]


def test_a_person_is_written_from_their_own_stream(journey_map: JourneyMap) -> None:
    """Person 25's history is the same whoever else is planned in the same process."""
    whole = plan(40, 3, 120, START, journey_map, SECRET)
    share = plan(40, 3, 120, START, journey_map, SECRET, who=range(20, 40))
    assert [wire.event_value(t) for h in share.histories for j in h.journeys for t in j] == [
        wire.event_value(t) for h in whole.histories[20:] for j in h.journeys for t in j]
    assert share.person_truths() == whole.person_truths()[20:]


def test_ids_are_unique_across_people(sim: Simulation) -> None:
    """Ids come from (person, counter), not a shared register: still never one id for two things."""
    events = sim.events()
    assert len({e.source_id for e in events}) == len({e.event_id for e in events}) == len(events)
    owners: dict[str, set[str]] = defaultdict(set)
    for person in sim.truth.persons:
        for key in person.identifiers:
            owners[key].add(person.person_id)
    assert all(len(people) == 1 for people in owners.values())
    owner = {e: p.person_id for p in sim.truth.persons for e in p.event_ids}
    sessions: dict[str, set[str]] = defaultdict(set)
    for event in events:
        for name in ("session_id", "order_id", "thread_id"):
            if value := getattr(event.measures, name, None):
                sessions[value].add(owner[event.event_id])
    assert sessions and all(len(people) == 1 for people in sessions.values())


def test_phone_hashes_are_the_pii_modules() -> None:
    for number in ("+447700900000", "+447700912345", "+447700999999"):
        assert phone_hash(number, SECRET) == hash_phone(number, SECRET) == hash_phone(
            f"{number[:3]} {number[3:7]} {number[7:]}", SECRET)


def test_trusted_construction_refuses_a_missing_required_field() -> None:
    with pytest.raises(ValueError, match="event_time"):
        construct(WebEvent, {"channel": "web", "touchpoint": "web.product", "event_type": "product_view",
                             "identifiers": construct(Identifiers, {"anonymous_id": "a-1"}),
                             "received_time": START, "measures": construct(WebMeasures, {})})


def test_malformed_payloads_are_rejected_and_counted(sim: Simulation, journey_map: JourneyMap) -> None:
    raw = [d.payload for d in sim.deliveries if isinstance(d.payload, bytes)]
    assert len(raw) == sim.truth.totals.malformed >= 1
    assert all(isinstance(validate(p, "test", journey_map), Rejection) for p in raw)


def test_duplicates_repeat_an_event_id(sim: Simulation) -> None:
    ids = [d.payload.event_id for d in sim.deliveries if isinstance(d.payload, TouchpointEventBase)]
    assert len(ids) - len(set(ids)) == sim.truth.totals.duplicates >= 1
    assert sim.truth.totals.deliveries == len(sim.deliveries)


def test_web_and_email_arrive_in_event_time_order_batches_late_but_in_time(sim: Simulation,
                                                                           journey_map: JourneyMap) -> None:
    lateness = timedelta(hours=journey_map.journey.allowed_lateness_hours)
    live = [d.payload for d in sim.deliveries
            if isinstance(d.payload, TouchpointEventBase) and d.channel in ("web", "email")]
    firsts: dict[str, TouchpointEventBase] = {}
    for event in live:
        firsts.setdefault(event.event_id, event)
    times = [e.event_time for e in firsts.values()]
    assert times == sorted(times)
    batched = [e for e in sim.events() if e.channel in ("store", "call_centre")]
    assert any(e.received_time - e.event_time > timedelta(hours=12) for e in batched)
    assert all(e.received_time - e.event_time < lateness for e in batched)


def test_no_event_arrives_later_than_its_customers_clock_allows(sim: Simulation, journey_map: JourneyMap) -> None:
    lateness = timedelta(hours=journey_map.journey.allowed_lateness_hours)
    owner = {e: p.person_id for p in sim.truth.persons for e in p.event_ids}
    clock: dict[str, datetime] = {}
    out_of_order = 0
    for d in sim.deliveries:
        if isinstance(d.payload, TouchpointEventBase):
            who, t = owner[d.payload.event_id], d.payload.event_time
            assert who not in clock or t >= clock[who] - lateness
            out_of_order += who in clock and t < clock[who]
            clock[who] = max(clock.get(who, t), t)
    assert out_of_order > 0


def test_journeys_are_separated_by_more_than_the_inactivity_gap(sim: Simulation, journey_map: JourneyMap) -> None:
    gap = timedelta(days=journey_map.journey.inactivity_gap_days)
    times = {e.event_id: e.event_time for e in sim.events()}
    assert any(len(p.journeys) > 1 for p in sim.truth.persons)
    for person in sim.truth.persons:
        for before, after in zip(person.journeys, person.journeys[1:], strict=False):
            assert after.started_at - before.last_event_at > gap
        for journey in person.journeys:
            stamps = [times[e] for e in journey.event_ids]
            assert stamps == sorted(stamps)
            assert all(b - a <= gap for a, b in itertools.pairwise(stamps))


def test_phases_follow_the_map_rules(sim: Simulation, journey_map: JourneyMap) -> None:
    events = {e.event_id: e for e in sim.events()}
    for journey in (j for p in sim.truth.persons for j in p.journeys):
        explicit = [journey_map.phase_for(e.channel, e.event_type, e.touchpoint, e.measures.model_dump())
                    for e in (events[i] for i in journey.event_ids)]
        reached = [p for p in journey_map.phase_ids if p in explicit and p != CURRENT]
        assert list(journey.phases_reached) == reached
        assert journey.furthest_phase == (reached[-1] if reached else None)
        assert journey.converted == ("purchase" in reached)
        assert set(journey.phase_first_at) == set(reached)


def test_funnel_counts_reached_at_or_beyond(sim: Simulation, journey_map: JourneyMap) -> None:
    journeys = [j for p in sim.truth.persons for j in p.journeys]
    funnel = {step.phase: step for step in sim.truth.totals.funnel}
    for k, phase in enumerate(journey_map.phase_ids):
        beyond = [j for j in journeys if j.furthest_phase and journey_map.phase_index(j.furthest_phase) >= k]
        assert funnel[phase].reached == len(beyond)
        assert funnel[phase].dropped == sum(j.furthest_phase == phase for j in journeys)
    assert 0 < sim.truth.totals.converted_journeys < len(journeys)


def test_every_evidence_event_exists_in_its_persons_journey(sim: Simulation) -> None:
    for person in sim.truth.persons:
        by_journey = defaultdict(set)
        for journey in person.journeys:
            by_journey[journey.index] = set(journey.event_ids)
        for friction in person.friction:
            assert set(friction.evidence) <= by_journey[friction.journey], friction


def test_truth_is_json(sim: Simulation) -> None:
    text = sim.truth.model_dump_json()
    assert type(sim.truth).model_validate_json(text) == sim.truth
