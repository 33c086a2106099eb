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
from dataclasses import dataclass
from datetime import datetime

from producers.simulator.arrival import Arrival, Delivery, arrivals, as_deliveries
from producers.simulator.context import Context
from producers.simulator.history import History, history, people
from producers.simulator.truth import GroundTruth, PhaseLookup, person_truth, totals
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
    """A simulation with every random draw made: histories written, arrivals drawn and ordered.

    What is left is deterministic and needs no order: the contract models (`simulation`), the
    wire bytes (`producers.simulator.wire`) and the ground truth (`truth`), so `journeys simulate`
    can publish while the truth is computed elsewhere.
    """

    seed: int
    start: datetime
    days: int
    journey_map: JourneyMap
    histories: list[History]
    arrivals: list[Arrival]
    duplicates: int
    malformed: int

    def truth(self) -> GroundTruth:
        with gc_paused():
            lookup = PhaseLookup(self.journey_map)
            persons = [person_truth(story, self.journey_map, lookup) for story in self.histories]
            return GroundTruth(seed=self.seed, start=self.start, days=self.days, persons=tuple(persons),
                               totals=totals(persons, self.journey_map, len(self.arrivals), self.duplicates,
                                             self.malformed))

    def simulation(self) -> Simulation:
        with gc_paused():
            return Simulation(as_deliveries(self.arrivals), self.truth(), self.histories)


def simulate(customers: int, seed: int, days: int, start: datetime, journey_map: JourneyMap,
             pii_secret: bytes, friction_rates: dict[str, float] | None = None) -> Simulation:
    """Generate `customers` people over `days` days from `start`: traffic and ground truth."""
    return plan(customers, seed, days, start, journey_map, pii_secret, friction_rates).simulation()


def plan(customers: int, seed: int, days: int, start: datetime, journey_map: JourneyMap,
         pii_secret: bytes, friction_rates: dict[str, float] | None = None) -> Plan:
    """Every random draw of `simulate`, in the same order: same arguments, same simulation."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    with gc_paused():
        ctx = Context(random.Random(seed), journey_map, pii_secret)
        rates = FRICTION_RATES if friction_rates is None else friction_rates
        stories = [history(ctx, person, start, days, rates) for person in people(ctx, customers)]
        touches = [t for story in stories for journey in story.journeys for t in journey]
        drawn, duplicates, malformed = arrivals(ctx, touches, start)
        return Plan(seed, start, days, journey_map, stories, drawn, duplicates, malformed)


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
