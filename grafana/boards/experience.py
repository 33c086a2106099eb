"""Grafana stage: the Experience map dashboard, drawn from live data.

The practitioner's swimlane: phases across, touchpoints down, and per cell the volume of
touchpoint events, the CSAT of the feedback about that touchpoint, and the friction detected
there; below, the emotion curve (average CSAT) across the phases. Rows and columns follow the
journey map, so a new touchpoint or phase appears here without editing the dashboard.
"""

from __future__ import annotations

from grafana.boards.common import (
    CHANNEL,
    FRICTION,
    JOURNEY_SEGMENT,
    TOUCHPOINT,
    TOUCHPOINTS,
    event_dimensions,
    friction_dimensions,
    journey_dimensions,
    per_phase,
    phase_array,
    variables,
    where,
)
from grafana.model import Column, Dashboard, Panel, Target, Thresholds
from schemas.journeymap import JourneyMap

UID = "journeys-experience-map"
RATED = "ifNull(feedback_touchpoint, touchpoint)"  # feedback counts for the touchpoint it is about
RATED_TOUCHPOINT = f"$__conditionalAll({RATED} IN (${{touchpoint:singlequote}}), $touchpoint)"
PLACED = ("late = 0", "phase != ''", "$__timeFilter(event_time)", CHANNEL, JOURNEY_SEGMENT)
CSAT = Thresholds.higher_is_better(3, 4)
VOLUME = Thresholds("transparent", ((1, "blue"),))
FRICTION_HEAT = Thresholds("transparent", ((1, "yellow"), (5, "orange"), (20, "red")))


def _touchpoint_order(journey_map: JourneyMap, column: str) -> str:
    ids = ",".join(f"'{t.id}'" for t in journey_map.touchpoints)
    return f"ORDER BY indexOf([{ids}], {column}), {column}"


def _cells(journey_map: JourneyMap, title: str, sql: str, thresholds: Thresholds, decimals: int | None) -> Panel:
    columns = tuple(Column(p.label, thresholds=thresholds, decimals=decimals) for p in journey_map.phases)
    return Panel(title, "table", (Target(sql),), width=8, height=12, columns=columns)


def _volume(journey_map: JourneyMap) -> Panel:
    cells = per_phase(journey_map, "countIf(phase = '{phase}')")
    sql = (f"SELECT touchpoint AS Touchpoint,\n  {cells}\nFROM {TOUCHPOINTS}\n{where(*PLACED, TOUCHPOINT, *event_dimensions(journey_map))}\n"
           f"GROUP BY touchpoint\n{_touchpoint_order(journey_map, 'touchpoint')}")
    return _cells(journey_map, "Volume", sql, VOLUME, None)


def _csat(journey_map: JourneyMap) -> Panel:
    cells = per_phase(journey_map, "round(avgIf(csat, phase = '{phase}'), 2)")
    sql = (f"SELECT {RATED} AS Touchpoint,\n  {cells}\nFROM {TOUCHPOINTS}\n"
           f"{where(*PLACED, 'csat IS NOT NULL', RATED_TOUCHPOINT, *journey_dimensions(journey_map))}\n"
           f"GROUP BY Touchpoint\n{_touchpoint_order(journey_map, 'Touchpoint')}")
    return _cells(journey_map, "CSAT", sql, CSAT, 2)


def _friction(journey_map: JourneyMap) -> Panel:
    cells = per_phase(journey_map, "countIf(phase = '{phase}')")
    conditions = ("retracted = 0", "$__timeFilter(detected_at)", CHANNEL, TOUCHPOINT, JOURNEY_SEGMENT,
                  *friction_dimensions(journey_map))
    sql = (f"SELECT touchpoint AS Touchpoint,\n  {cells}\nFROM {FRICTION}\n{where(*conditions)}\n"
           f"GROUP BY touchpoint\n{_touchpoint_order(journey_map, 'touchpoint')}")
    return _cells(journey_map, "Friction", sql, FRICTION_HEAT, None)


def _emotion_curve(journey_map: JourneyMap) -> Panel:
    phases = phase_array(journey_map)
    labels = "[" + ",".join(f"'{p.label}'" for p in journey_map.phases) + "]"
    sql = (f"SELECT {labels}[indexOf({phases}, phase)] AS Phase, round(avg(csat), 2) AS avg_csat,\n"
           "  countIf(csat <= 2) AS unhappy, countIf(csat >= 4) AS happy\n"
           f"FROM {TOUCHPOINTS}\n{where(*PLACED, 'csat IS NOT NULL', RATED_TOUCHPOINT, *journey_dimensions(journey_map))}\n"
           f"GROUP BY phase\nORDER BY indexOf({phases}, phase)")
    return Panel("Emotion curve across phases", "barchart", (Target(sql),), width=24, unit="none",
                 description="Average CSAT of the feedback given in each phase, with happy (4-5) and unhappy (1-2) counts.",
                 thresholds=CSAT, options={"xField": "Phase", "colorByField": "avg_csat"})


def dashboard(journey_map: JourneyMap) -> Dashboard:
    return Dashboard(
        UID, "Experience map",
        "Phases across, touchpoints down: volume, CSAT and friction per cell, and the emotion curve.",
        (_volume(journey_map), _csat(journey_map), _friction(journey_map), _emotion_curve(journey_map)),
        variables(journey_map))
