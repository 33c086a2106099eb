"""Streams core, step 3: journey boundaries, cutting a customer's events into journeys and describing each.

A pure function of the customer's (non-late) events in event-time order: a new journey starts
after the inactivity gap; each step gets the journey's phase after applying its event (`current`
rules keep the phase); the journey's phase progress, furthest phase, channel switches and status
follow docs/journeys.md. The stitcher compares two such layouts (before and after an event) to
decide what to re-send.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from schemas.ids import journey_id_for
from schemas.journeymap import JourneyMap
from streams.core.records import CHANNEL, EVENT_ID, FEEDBACK, MS_PER_DAY, PHASE, SEGMENT, Record, T

NO_PHASE = "none"
PURCHASE = "purchase"
UNKNOWN_SEGMENT = "unknown"


@dataclass
class Journey:
    """One journey: its steps (record, phase after the step) and what a snapshot reports."""

    journey_id: str
    steps: list[tuple[Record, str]] = field(default_factory=list)
    phase_first_at: dict[str, int] = field(default_factory=dict)

    @property
    def started_ms(self) -> int:
        return int(self.steps[0][0][T])

    @property
    def last_ms(self) -> int:
        return int(self.steps[-1][0][T])

    @property
    def converted(self) -> bool:
        return PURCHASE in self.phase_first_at

    def phase_at(self, event_id: str) -> str:
        return next((phase for record, phase in self.steps if record[EVENT_ID] == event_id), NO_PHASE)


def cut_journeys(customer_id: str, events: list[Record], journey_map: JourneyMap) -> list[Journey]:
    """Ordered non-late events -> journeys, each step placed with its phase."""
    return continue_journeys(customer_id, [], events, journey_map)


def continue_journeys(customer_id: str, journeys: list[Journey], events: list[Record],
                      journey_map: JourneyMap) -> list[Journey]:
    """Cut further: `events` (ordered, all after the journeys' steps) extend the last journey or
    open new ones. The last journey is changed in place: pass a copy of one that others hold."""
    gap_ms = journey_map.journey.inactivity_gap_days * MS_PER_DAY
    current = "" if not journeys or journeys[-1].steps[-1][1] == NO_PHASE else journeys[-1].steps[-1][1]
    for record in events:
        if not journeys or record[T] - journeys[-1].last_ms > gap_ms:
            journeys.append(Journey(journey_id_for(customer_id, record[EVENT_ID])))
            current = ""
        journey = journeys[-1]
        current = record[PHASE] or current
        if current and current not in journey.phase_first_at:
            journey.phase_first_at[current] = record[T]
        journey.steps.append((record, current or NO_PHASE))
    return journeys


def segment_of(events: list[Record]) -> str:
    """The latest non-null segment among the customer's events."""
    return next((r[SEGMENT] for r in reversed(events) if r[SEGMENT]), UNKNOWN_SEGMENT)


def describe(journey: Journey, clock_ms: int, journey_map: JourneyMap) -> dict[str, Any]:
    """The journey's snapshot fields that do not depend on the customer's revision."""
    channels = [r[CHANNEL] for r, _ in journey.steps]
    reached = [p for p in journey_map.phase_ids if p in journey.phase_first_at]
    csats = [r[FEEDBACK]["csat"] for r, _ in journey.steps if r[FEEDBACK] and r[FEEDBACK].get("csat")]
    return {
        "started_ms": journey.started_ms, "last_ms": journey.last_ms, "events": len(journey.steps),
        "channels": tuple(dict.fromkeys(channels)),
        "channel_switches": sum(1 for a, b in itertools.pairwise(channels) if a != b),
        "first_channel": channels[0], "phase_first_at": dict(journey.phase_first_at),
        "furthest_phase": reached[-1] if reached else None,
        "current_phase": None if journey.steps[-1][1] == NO_PHASE else journey.steps[-1][1],
        "converted": journey.converted, "status": _status(journey, clock_ms, journey_map),
        "csat_avg": sum(csats) / len(csats) if csats else None,
    }


def _status(journey: Journey, clock_ms: int, journey_map: JourneyMap) -> str:
    idle_ms = clock_ms - journey.last_ms
    if idle_ms > journey_map.journey.inactivity_gap_days * MS_PER_DAY:
        return "closed"
    if not journey.converted and idle_ms > journey_map.friction.stalled_days * MS_PER_DAY:
        return "stalled"
    return "active"
