"""Grafana stage: the Journey funnel dashboard (research -> compare -> purchase -> after-sales).

A journey counts at a phase when its furthest phase is that phase or a later one, and drops off
at the phase it got furthest to (docs/journeys.md, funnel semantics). Filtered by the channels
and touchpoints a journey used, its segment, and the time it started.
"""

from __future__ import annotations

from grafana.boards import paths, step_funnel
from grafana.boards.common import (
    JOURNEY_CHANNEL,
    JOURNEY_TOUCHPOINT,
    JOURNEYS,
    SEGMENT,
    journey_dimensions,
    phase_array,
    variables,
    where,
)
from grafana.model import Column, Dashboard, Format, Panel, Target, Thresholds
from schemas.journeymap import JourneyMap

UID = "journeys-funnel"
IN_RANGE = ("retracted = 0", "$__timeFilter(started_at)", JOURNEY_CHANNEL, JOURNEY_TOUCHPOINT, SEGMENT)
CONVERSION_PCT = Thresholds.higher_is_better(warn_below=10, good_from=25)


def _reached(phases: str, scope: tuple[str, ...]) -> Panel:
    sql = (f"SELECT phase, countIf(indexOf({phases}, furthest_phase) >= indexOf({phases}, phase)) AS journeys\n"
           f"FROM {JOURNEYS}\nARRAY JOIN {phases} AS phase\n{where(*scope)}\n"
           f"GROUP BY phase\nORDER BY indexOf({phases}, phase)")
    return Panel("Journeys reaching each phase", "bargauge", (Target(sql),), width=12,
                 description="Journeys whose furthest phase is this phase or a later one.",
                 options={"displayMode": "gradient", "orientation": "horizontal"})


def _drop_off(phases: str, scope: tuple[str, ...]) -> Panel:
    sql = (f"SELECT phase, countIf(furthest_phase = phase) AS dropped_off\n"
           f"FROM {JOURNEYS}\nARRAY JOIN {phases} AS phase\n{where(*scope)}\n"
           f"GROUP BY phase\nORDER BY indexOf({phases}, phase)")
    return Panel("Drop-off by phase", "barchart", (Target(sql),), width=12,
                 description="Journeys that got no further than this phase.",
                 options={"xField": "phase"})


def _conversion_over_time(scope: tuple[str, ...]) -> Panel:
    sql = ("SELECT $__timeInterval(started_at) AS time, first_channel,\n"
           "  round(100 * avg(converted), 1) AS conversion_pct\n"
           f"FROM {JOURNEYS}\n{where(*scope)}\nGROUP BY time, first_channel\nORDER BY time")
    return Panel("Conversion over time by first channel", "timeseries", (Target(sql, Format.TIME_SERIES),),
                 width=12, unit="percent", description="Share of journeys started in each interval that reached purchase.")


def _by_segment(scope: tuple[str, ...]) -> Panel:
    sql = ("SELECT segment, count() AS journeys, countIf(converted) AS converted_journeys,\n"
           "  round(100 * avg(converted), 1) AS conversion_pct,\n"
           "  round(avgIf(dateDiff('second', started_at, phase_first_at['purchase']), converted) / 3600, 1)"
           " AS hours_to_convert\n"
           f"FROM {JOURNEYS}\n{where(*scope)}\nGROUP BY segment\nORDER BY journeys DESC")
    return Panel("Conversion by segment", "table", (Target(sql),), width=12,
                 columns=(Column("conversion_pct", "percent", CONVERSION_PCT), Column("hours_to_convert", "h")))


def _time_to_convert(scope: tuple[str, ...]) -> Panel:
    sql = ("SELECT round(quantileIf(0.5)(dateDiff('second', started_at, phase_first_at['purchase']), converted)"
           " / 3600, 1) AS median_hours,\n"
           "  round(quantileIf(0.9)(dateDiff('second', started_at, phase_first_at['purchase']), converted)"
           " / 3600, 1) AS p90_hours\n"
           f"FROM {JOURNEYS}\n{where(*scope)}")
    return Panel("Time to convert", "stat", (Target(sql),), width=6, unit="h",
                 description="From the journey's first event to its first purchase (converted journeys).")


def _journeys_started(scope: tuple[str, ...]) -> Panel:
    sql = ("SELECT count() AS journeys, countIf(converted) AS converted_journeys,\n"
           "  round(100 * avg(converted), 1) AS conversion_pct\n"
           f"FROM {JOURNEYS}\n{where(*scope)}")
    return Panel("Journeys and conversion", "stat", (Target(sql),), width=6)


def _by_channel(scope: tuple[str, ...]) -> Panel:
    sql = ("SELECT first_channel, count() AS journeys, round(100 * avg(converted), 1) AS conversion_pct,\n"
           "  round(avg(channel_switches), 2) AS avg_channel_switches\n"
           f"FROM {JOURNEYS}\n{where(*scope)}\nGROUP BY first_channel\nORDER BY journeys DESC")
    return Panel("Conversion by first channel", "table", (Target(sql),), width=12,
                 columns=(Column("conversion_pct", "percent", CONVERSION_PCT),))


def dashboard(journey_map: JourneyMap) -> Dashboard:
    phases = phase_array(journey_map)
    scope = (*IN_RANGE, *journey_dimensions(journey_map))
    return Dashboard(
        UID, "Journey funnel",
        "How journeys move research -> compare -> purchase -> after-sales, by channel, segment and time.",
        (_journeys_started(scope), _time_to_convert(scope), _reached(phases, scope), _drop_off(phases, scope),
         _conversion_over_time(scope), _by_segment(scope), _by_channel(scope), step_funnel.panel(), paths.panel()),
        variables(journey_map))
