"""The worker's remembered phases stay bounded whatever event types and measures senders choose."""

from __future__ import annotations

from schemas.journeymap import load_journey_map
from streams.core import records
from streams.core.records import MAX_REMEMBERED_PHASES, phase_of


def test_the_remembered_phases_stay_bounded() -> None:
    journey_map = load_journey_map()
    for n in range(3 * MAX_REMEMBERED_PHASES):
        phase_of(journey_map, "web", f"type_{n}", "web.product", {"dwell_s": float(n)})
    assert len(records._PHASES[id(journey_map)][2]) <= MAX_REMEMBERED_PHASES
    assert phase_of(journey_map, "web", "product_view", "web.product", {}) == "research"  # still right
