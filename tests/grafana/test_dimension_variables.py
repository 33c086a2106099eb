"""Every dashboard filters by the context dimensions of the journey map: a variable per dimension,
multi-value with All, expanded as Grafana would (All costs nothing, a selection is an IN list)."""

from __future__ import annotations

from datetime import UTC, datetime

from grafana.boards.common import dimension_variables, event_dimensions, friction_dimensions, journey_dimensions
from grafana.macros import QueryContext, expand_panel_query
from grafana.templating import ALL, VariableState
from schemas.journeymap import load_journey_map

JOURNEY_MAP = load_journey_map()
RANGE = QueryContext(datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 4, 8, tzinfo=UTC))
DEVICES = ("desktop", "mobile", "tablet")


def states(device_type: tuple[str, ...]) -> dict[str, VariableState]:
    """device_type as given, every other dimension at All."""
    found = {v.name: VariableState(v.name, (ALL,), ("x",)) for v in dimension_variables(JOURNEY_MAP)}
    return found | {"device_type": VariableState("device_type", device_type, DEVICES)}


def test_one_variable_per_dimension_reading_the_values_events_carried() -> None:
    variables = {v.name: v.sql for v in dimension_variables(JOURNEY_MAP)}
    assert tuple(variables) == JOURNEY_MAP.dimension_names
    assert variables["device_type"] == ("SELECT DISTINCT context['device_type'] AS value FROM touchpoints "
                                        "WHERE mapContains(context, 'device_type') ORDER BY value")


def test_all_selected_filters_nothing() -> None:
    for conditions in (event_dimensions(JOURNEY_MAP), journey_dimensions(JOURNEY_MAP), friction_dimensions(JOURNEY_MAP)):
        sql = " AND ".join(conditions)
        assert expand_panel_query(sql, states((ALL,)), RANGE) == " AND ".join(["1=1"] * len(JOURNEY_MAP.dimensions))


def test_a_selection_keeps_what_carried_one_of_its_values() -> None:
    chosen = states(("mobile", "tablet"))
    event, journey, friction = (expand_panel_query(c[0], chosen, RANGE) for c in (
        event_dimensions(JOURNEY_MAP), journey_dimensions(JOURNEY_MAP), friction_dimensions(JOURNEY_MAP)))
    assert event == "context['device_type'] IN ('mobile','tablet')"
    assert journey == ("journey_id IN (SELECT journey_id FROM touchpoints FINAL "
                       "WHERE context['device_type'] IN ('mobile','tablet'))")
    assert friction == ("friction_id IN (SELECT friction_id FROM friction ARRAY JOIN evidence AS e "
                        "WHERE e IN (SELECT event_id FROM touchpoints WHERE context['device_type'] IN ('mobile','tablet')))")
