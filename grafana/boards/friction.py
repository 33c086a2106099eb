"""Grafana stage: the Friction dashboard (pain points by rule, touchpoint and phase, with evidence).

Reads the friction that holds now (newest version, not retracted), filtered by channel,
touchpoint, the segment of its journey, and the time its evidence was completed. The evidence
table lists the event ids that prove each pain point, for drill-down to the journey.
"""

from __future__ import annotations

from grafana.boards.common import (
    CHANNEL,
    FRICTION,
    JOURNEY_SEGMENT,
    TOUCHPOINT,
    friction_dimensions,
    per_phase,
    variables,
    where,
)
from grafana.model import BAD, Column, Dashboard, Format, Panel, Target, Thresholds
from schemas.journeymap import JourneyMap

UID = "journeys-friction"
IN_RANGE = ("retracted = 0", "$__timeFilter(detected_at)", CHANNEL, TOUCHPOINT, JOURNEY_SEGMENT)
HEAT = Thresholds("transparent", ((1, "yellow"), (5, "orange"), (20, BAD)))


def _over_time(by: str, title: str, scope: tuple[str, ...]) -> Panel:
    sql = (f"SELECT $__timeInterval(detected_at) AS time, {by}, count() AS friction\n"
           f"FROM {FRICTION}\n{where(*scope)}\nGROUP BY time, {by}\nORDER BY time")
    return Panel(title, "timeseries", (Target(sql, Format.TIME_SERIES),), stack=True,
                 description=f"Pain points detected per interval, stacked by {by}.")


def _top_pain_points(scope: tuple[str, ...]) -> Panel:
    sql = ("SELECT concat(touchpoint, ' · ', rule) AS pain_point, count() AS friction,\n"
           "  countIf(severity = 'high') AS high_severity\n"
           f"FROM {FRICTION}\n{where(*scope)}\nGROUP BY pain_point\nORDER BY friction DESC, pain_point\nLIMIT 10")
    return Panel("Top pain points", "bargauge", (Target(sql),), width=24,
                 description="The ten touchpoint and rule pairs with the most friction.",
                 options={"displayMode": "gradient", "orientation": "horizontal",
                          "reduceOptions": {"calcs": [], "fields": "/^friction$/", "values": True}})


def _heatmap(journey_map: JourneyMap, scope: tuple[str, ...]) -> Panel:
    cells = per_phase(journey_map, "countIf(phase = '{phase}')")
    sql = (f"SELECT touchpoint,\n  {cells}\n"
           f"FROM {FRICTION}\n{where(*scope)}\nGROUP BY touchpoint\nORDER BY touchpoint")
    columns = tuple(Column(p.label, thresholds=HEAT) for p in journey_map.phases)
    return Panel("Friction by phase and touchpoint", "table", (Target(sql),), width=24, columns=columns,
                 description="Heatmap of the experience map: where in the journey each touchpoint hurts.")


def _evidence(scope: tuple[str, ...]) -> Panel:
    sql = ("SELECT detected_at, severity, rule, touchpoint, phase, customer_id, journey_id,\n"
           "  measure, threshold, arrayStringConcat(evidence, ', ') AS evidence_events\n"
           f"FROM {FRICTION}\n{where(*scope)}\nORDER BY detected_at DESC, friction_id\nLIMIT 500")
    return Panel("Friction evidence", "table", (Target(sql),), width=24, height=10,
                 description="Each pain point with its measure, threshold and the events that prove it.")


def dashboard(journey_map: JourneyMap) -> Dashboard:
    scope = (*IN_RANGE, *friction_dimensions(journey_map))
    return Dashboard(
        UID, "Friction",
        "Pain points detected from measures and sequences: where, when, how severe, and the evidence.",
        (_over_time("rule", "Friction over time by rule", scope),
         _over_time("touchpoint", "Friction over time by touchpoint", scope),
         _top_pain_points(scope), _heatmap(journey_map, scope), _evidence(scope)),
        variables(journey_map))
