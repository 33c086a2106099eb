"""Grafana stage: the Incidents dashboard (what changed, where, for whom, against its baseline).

The incidents table runs the incident judge written in SQL (clickhouse/analyses/judge_sql.py, the
same as the named query `incidents`) over Grafana's time range, for every dimension of the map; the
dashboard's selections then hide what they leave out. The new-incident alert (grafana/alerts.py)
runs the same SQL.
"""

from __future__ import annotations

from clickhouse.analyses.baseline import DEFAULT_Z
from clickhouse.analyses.judge_sql import BASELINE_PERIODS, counts_over, judged_incidents_sql, sql_array
from grafana.boards.common import VARIABLES, variable_name, variables, where
from grafana.boards.step_funnel import with_literals
from grafana.model import Column, Dashboard, Panel, Target, Thresholds
from schemas.journeymap import JourneyMap

UID = "journeys-incidents"
SCORE = Thresholds("transparent", ((DEFAULT_Z, "orange"), (2 * DEFAULT_Z, "red")))


def incidents_sql(journey_map: JourneyMap, period: str) -> str:
    """The judge in SQL over Grafana's time range, for every dimension of the map, no filter bound
    (the plugin binds none: a dashboard's selections filter the incidents after judging)."""
    counts = counts_over(period, "$__fromTime", "$__toTime", sql_array(journey_map.dimension_names),
                         scan="$__timeFilter(event_time)")
    unfiltered = {"channel": "''", "segment": "''", "where_dim": "''", "where_value": "''"}
    return with_literals(judged_incidents_sql(counts, period, "$__fromTime"), unfiltered)


def _selected(journey_map: JourneyMap) -> tuple[str, ...]:
    """An incident about another value of a selected dimension is hidden; everyone's stay."""
    channels = (f"transform(touchpoint, {sql_array(tuple(t.id for t in journey_map.touchpoints))}, "
                f"{sql_array(tuple(t.channel for t in journey_map.touchpoints))}, '')")
    by_dimension = tuple(
        f"$__conditionalAll(splitByChar('=', who)[1] != '{d}' OR "
        f"has(arrayMap(v -> concat('{d}=', v), [${{{variable_name(d)}:singlequote}}]), who), ${variable_name(d)})"
        for d in journey_map.dimension_names)
    return (f"$__conditionalAll({channels} IN (${{channel:singlequote}}), $channel)",
            *by_dimension)


def panel(journey_map: JourneyMap, period: str) -> Panel:
    sql = (f"SELECT * FROM ({incidents_sql(journey_map, period)})\n{where(*_selected(journey_map))}\n"
           "ORDER BY last_period DESC, score DESC")
    return Panel(f"Incidents by {period}", "table", (Target(sql),), width=24, height=10,
                 columns=(Column("score", decimals=1, thresholds=SCORE), Column("rate", "percentunit"),
                          Column("baseline_rate", "percentunit")),
                 description=f"Each {period} of each touchpoint x rule, step or volume, for everyone and each "
                 f"dimension value, against its {BASELINE_PERIODS} trailing {period}s (the range's first "
                 f"{BASELINE_PERIODS} {period}s are the first baseline); consecutive flagged {period}s are one "
                 "incident. `journeys incidents` gives the same with the weekday season.")


def dashboard(journey_map: JourneyMap) -> Dashboard:
    # No touchpoint variable: each of its values would rerun months of judging (the table shows where).
    channel, _, _ = VARIABLES
    return Dashboard(UID, "Incidents",
                     "What changed against its baseline: where (touchpoint), what (rule, step or volume), who "
                     "(everyone or a dimension value), the rate against the baseline, and the score.",
                     (panel(journey_map, "week"), panel(journey_map, "day")),
                     variables(journey_map, (channel,)), time_from="now-90d")
