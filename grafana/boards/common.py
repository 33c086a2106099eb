"""Grafana stage: SQL pieces every dashboard shares (variables, filters, the phase order).

The template variables (channel, touchpoint, segment, and one per context dimension of the
journey map: device type, browser, campaign...) are multi-value with All; each panel filters with
`$__conditionalAll(...)`, so All costs nothing (`1=1`) and a selection becomes an `IN ('a','b')`
list. A dimension selects events by their `context` map; journeys and frictions match through
their events, as the named queries' `--where DIM=VALUE` does (clickhouse/sql.py). Versioned tables are read with FINAL and `retracted = 0`, so a journey
re-cut by a late event or merged away is counted once, as it stands now.
"""

from __future__ import annotations

from grafana.model import Variable
from schemas.journeymap import JourneyMap

INGEST_STAGES = "('collector', 'importer', 'simulator')"  # the stages whose health samples count events in
CHANNEL = "$__conditionalAll(channel IN (${channel:singlequote}), $channel)"
TOUCHPOINT = "$__conditionalAll(touchpoint IN (${touchpoint:singlequote}), $touchpoint)"
SEGMENT = "$__conditionalAll(segment IN (${segment:singlequote}), $segment)"
# Journeys are on several channels: a journey matches when it used any selected channel.
JOURNEY_CHANNEL = "$__conditionalAll(hasAny(channels, [${channel:singlequote}]), $channel)"
# Friction rows carry no segment: it is the segment of the journey they belong to.
JOURNEY_SEGMENT = ("$__conditionalAll(journey_id IN (SELECT journey_id FROM journeys FINAL "
                   "WHERE retracted = 0 AND segment IN (${segment:singlequote})), $segment)")

# A journey matches a touchpoint selection when it went through any selected touchpoint.
JOURNEY_TOUCHPOINT = ("$__conditionalAll(journey_id IN (SELECT journey_id FROM touchpoints FINAL "
                      "WHERE touchpoint IN (${touchpoint:singlequote})), $touchpoint)")

JOURNEYS = "journeys FINAL"
FRICTION = "friction FINAL"
TOUCHPOINTS = "touchpoints FINAL"

VARIABLES = (
    Variable("channel", "Channel", "SELECT DISTINCT channel FROM touchpoints ORDER BY channel"),
    Variable("touchpoint", "Touchpoint",
             "SELECT DISTINCT touchpoint FROM touchpoints WHERE channel IN (${channel:singlequote}) "
             "ORDER BY touchpoint"),
    Variable("segment", "Segment", "SELECT DISTINCT segment FROM journeys FINAL WHERE retracted = 0 ORDER BY segment"),
)


def variable_name(dimension: str) -> str:
    """A dimension's template variable (Grafana names are word characters; map names may hold dots)."""
    return dimension.replace(".", "_")


def dimension_variables(journey_map: JourneyMap) -> tuple[Variable, ...]:
    """One variable per context dimension of the map, offering the values the events carried."""
    return tuple(Variable(variable_name(d.name), d.name.replace("_", " ").capitalize(),
                          f"SELECT DISTINCT context['{d.name}'] AS value FROM touchpoints "
                          f"WHERE mapContains(context, '{d.name}') ORDER BY value")
                 for d in journey_map.dimensions)


def variables(journey_map: JourneyMap, base: tuple[Variable, ...] = VARIABLES) -> tuple[Variable, ...]:
    return (*base, *dimension_variables(journey_map))


def _carried(dimension: str) -> str:
    return f"context['{dimension}'] IN (${{{variable_name(dimension)}:singlequote}})"


def _when_selected(dimension: str, condition: str) -> str:
    return f"$__conditionalAll({condition}, ${variable_name(dimension)})"


def event_dimensions(journey_map: JourneyMap) -> tuple[str, ...]:
    """Conditions on an events table (touchpoints): the event carried a selected value."""
    return tuple(_when_selected(d.name, _carried(d.name)) for d in journey_map.dimensions)


def journey_dimensions(journey_map: JourneyMap) -> tuple[str, ...]:
    """Conditions on journeys (or rows with a journey_id): one of its events carried a selected value."""
    return tuple(_when_selected(d.name, f"journey_id IN (SELECT journey_id FROM {TOUCHPOINTS} WHERE {_carried(d.name)})")
                 for d in journey_map.dimensions)


def friction_dimensions(journey_map: JourneyMap) -> tuple[str, ...]:
    """Conditions on frictions: one of its evidence events carried a selected value."""
    return tuple(_when_selected(d.name, "friction_id IN (SELECT friction_id FROM friction ARRAY JOIN evidence AS e "
                                f"WHERE e IN (SELECT event_id FROM touchpoints WHERE {_carried(d.name)}))")
                 for d in journey_map.dimensions)


def where(*conditions: str) -> str:
    """`WHERE a AND b`, one condition a line, for readable panel SQL."""
    return "WHERE " + "\n  AND ".join(conditions)


def phase_array(journey_map: JourneyMap) -> str:
    """The phases in map order as a ClickHouse array literal: `['research','compare',...]`."""
    return "[" + ",".join(f"'{p}'" for p in journey_map.phase_ids) + "]"


def per_phase(journey_map: JourneyMap, aggregate: str) -> str:
    """One column per phase, named by its label: `aggregate` with `{phase}` filled in."""
    return ",\n  ".join(f"{aggregate.format(phase=p.id)} AS `{p.label}`" for p in journey_map.phases)
