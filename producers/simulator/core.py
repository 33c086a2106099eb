"""Producers stage, simulator core: `simulate(...)`, seeded traffic with its ground truth.

Data in (how many customers, seed, days, start, journey map, PII secret), data out: the deliveries
in arrival order (contract events, duplicates, malformed bytes) and the ground truth. No Kafka, no
clock, no uuid4: the same arguments always give the same simulation.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from producers.simulator.arrival import Arrival, Delivery, arrivals, as_deliveries, in_arrival_order
from producers.simulator.context import Context, id_salt, person_rng
from producers.simulator.devices import add_context
from producers.simulator.history import History, crowd, history, member
from producers.simulator.incidents import Scenario, incident_truth, inject
from producers.simulator.truth import GroundTruth, PersonTruth, PhaseLookup, person_truth, totals
from schemas.events import TouchpointEventBase
from schemas.journeymap import JourneyMap

# Chance that a rule is injected where the journey offers it (at most once per journey and rule).
FRICTION_RATES = {
    "long_wait": 0.15, "transfers": 0.12, "abandoned_checkout": 0.2, "channel_hop": 0.4,
    "repeat_contact": 0.3, "email_unanswered": 0.3, "low_csat": 0.15, "nps_detractor": 0.15,
    "poor_navigation": 0.25, "stalled": 0.12, "long_queue": 0.15,
}


@dataclass(frozen=True)
class Simulation:
    """Deliveries in arrival order, and what the pipeline should conclude from them."""

    deliveries: list[Delivery]
    truth: GroundTruth
    histories: list[History]

    def events(self) -> list[TouchpointEventBase]:
        """The distinct valid events (no duplicates, no malformed payloads), in arrival order."""
        seen: dict[str, TouchpointEventBase] = {}
        for d in self.deliveries:
            if isinstance(d.payload, TouchpointEventBase):
                seen.setdefault(d.payload.event_id, d.payload)
        return list(seen.values())


@dataclass(frozen=True)
class Plan:
    """A simulation (or some of its people) with every random draw made: histories written,
    arrivals drawn and ordered.

    What is left is deterministic and needs no order: the contract models (`simulation`), the
    wire bytes (`producers.simulator.wire`) and the ground truth (`truth`, `person_truths`), so
    `journeys simulate` can split the people over processes and publish while they work.
    """

    seed: int
    start: datetime
    days: int
    journey_map: JourneyMap
    histories: list[History]
    arrivals: list[Arrival]
    duplicates: int
    malformed: int
    scenario: Scenario = field(default_factory=Scenario)

    def person_truths(self) -> list[PersonTruth]:
        with gc_paused():
            lookup = PhaseLookup(self.journey_map)
            return [person_truth(story, self.journey_map, lookup) for story in self.histories]

    def truth(self) -> GroundTruth:
        """The ground truth, for a plan of every person."""
        truth = ground_truth(self.seed, self.start, self.days, self.journey_map, self.person_truths(),
                             len(self.arrivals), self.duplicates, self.malformed)
        return truth.model_copy(update={"incidents": incident_truth(self.scenario, self.start, self.histories)})

    def simulation(self) -> Simulation:
        with gc_paused():
            return Simulation(as_deliveries(self.arrivals), self.truth(), self.histories)


def ground_truth(seed: int, start: datetime, days: int, journey_map: JourneyMap, persons: list[PersonTruth],
                 deliveries: int, duplicates: int, malformed: int) -> GroundTruth:
    """Everyone's truth (persons in index order) and the totals over them."""
    return GroundTruth(seed=seed, start=start, days=days, persons=tuple(persons),
                       totals=totals(persons, journey_map, deliveries, duplicates, malformed))


def simulate(customers: int, seed: int, days: int, start: datetime, journey_map: JourneyMap,
             pii_secret: bytes, friction_rates: dict[str, float] | None = None,
             scenario: Scenario | None = None) -> Simulation:
    """Generate `customers` people over `days` days from `start`: traffic and ground truth."""
    return plan(customers, seed, days, start, journey_map, pii_secret, friction_rates, scenario=scenario).simulation()


def plan(customers: int, seed: int, days: int, start: datetime, journey_map: JourneyMap,
         pii_secret: bytes, friction_rates: dict[str, float] | None = None, who: range | None = None,
         scenario: Scenario | None = None) -> Plan:
    """Every random draw of `simulate` for the people `who` (default: everyone). Each person draws
    from their own stream, so the plans of two halves, merged in arrival order, are the whole's."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    with gc_paused():
        salt = id_salt(seed)
        everyone = crowd(Context(random.Random(seed), journey_map, pii_secret, customers, salt), customers)
        rates = FRICTION_RATES if friction_rates is None else friction_rates
        stories, drawn, duplicates, malformed = [], [], 0, 0
        for index in range(customers) if who is None else who:
            ctx = Context(person_rng(seed, index), journey_map, pii_secret, index, salt)
            story = history(ctx, member(ctx, index, everyone), start, days, rates)
            add_context(story)
            if scenario:
                inject(scenario, ctx, story, start)
            mine, twice, broken = arrivals(ctx, [t for journey in story.journeys for t in journey], start)
            stories.append(story)
            drawn += mine
            duplicates, malformed = duplicates + twice, malformed + broken
        return Plan(seed, start, days, journey_map, stories, in_arrival_order(drawn), duplicates, malformed,
                    scenario or Scenario())


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a simulation allocates hundreds of thousands of objects
    that live until it ends and forms no cycles, so the collector's passes over them are pure cost
    (about a third of the run). Memory is still freed by reference counting."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
