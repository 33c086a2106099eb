"""Experience map, warehouse adapter: the queries the map is drawn from.

Cells come from the shared named query `experience_map` (clickhouse/queries.py), the one the
Grafana experience-map dashboard shows too; the emotion curve and the moments of truth need two
more, built here from the same SQL fragments (clickhouse/sql.py): newest versions only, retracted
rows hidden, one half-open period, one segment (the journey's) or all. Values travel as bound
parameters (`{name:Type}`), never formatted into SQL. The rows go unchanged to the pure core.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from clickhouse import queries
from clickhouse.analyses.named import Extra, run_analysis
from clickhouse.queries import Filters
from clickhouse.sql import FRICTION_WHERE, TOUCHPOINT_WHERE
from grafana.experience_map.model import MapRows
from grafana.experience_map.sankey import Transition

_STEPS = f"SELECT * FROM touchpoints FINAL WHERE {TOUCHPOINT_WHERE} AND phase != ''"
_FRICTION = f"SELECT * FROM friction FINAL WHERE {FRICTION_WHERE}"

QUERIES: dict[str, str] = {
    "customers": f"SELECT uniqExact(customer_id) AS customers FROM ({_STEPS})",
    # Per phase: the emotion curve's inputs.
    "phases": f"""SELECT s.phase AS phase, s.steps AS steps, coalesce(f.frictions, 0) AS frictions,
        s.csat AS csat, s.nps AS nps
        FROM (SELECT phase, count() AS steps, avg(csat) AS csat, avg(nps) AS nps FROM ({_STEPS}) GROUP BY phase) AS s
        LEFT JOIN (SELECT phase, count() AS frictions FROM ({_FRICTION}) GROUP BY phase) AS f ON f.phase = s.phase
        ORDER BY phase SETTINGS join_use_nulls = 1""",
    # Frictions per cell and rule: those placed where the touchpoint has no step in that phase
    # (feedback about the checkout given after the sale) are listed under the grid.
    "frictions": f"""SELECT phase, toString(touchpoint) AS touchpoint, rule, count() AS frictions FROM ({_FRICTION})
        GROUP BY phase, touchpoint, rule ORDER BY phase, touchpoint, rule""",
    # Per cell: journeys that touched it, split by friction there, and how far each journey got.
    "outcomes": f"""SELECT t.phase AS phase, toString(t.touchpoint) AS touchpoint, f.hit = 1 AS with_friction,
        toString(j.furthest_phase) AS furthest_phase, count() AS journeys
        FROM (SELECT DISTINCT journey_id, phase, touchpoint FROM ({_STEPS})) AS t
        LEFT JOIN (SELECT DISTINCT journey_id, phase, touchpoint, 1 AS hit FROM ({_FRICTION})) AS f
          ON f.journey_id = t.journey_id AND f.phase = t.phase AND f.touchpoint = t.touchpoint
        INNER JOIN (SELECT journey_id, furthest_phase FROM journeys FINAL WHERE NOT retracted) AS j
          ON j.journey_id = t.journey_id
        GROUP BY phase, touchpoint, with_friction, furthest_phase
        ORDER BY phase, touchpoint, with_friction, furthest_phase""",
}


# The data's own period (a map without --from/--to shows when its events happened, not 2000 to 2100),
# and the segments a picker offers.
SPAN = f"SELECT min(event_time) AS first, max(event_time) AS last, count() AS steps FROM ({_STEPS})"
SEGMENTS = "SELECT DISTINCT segment FROM journeys FINAL WHERE NOT retracted AND segment != '' ORDER BY segment"


def window(start: datetime | None, end: datetime | None, segment: str | None,
           where: tuple[str, str] | None = None) -> Filters:
    """The filters of one map: a half-open period, a segment and a context dimension's value (None = all)."""
    where_dim, where_value = where or ("", "")
    return Filters(start=start or queries.EARLIEST, end=end or queries.LATEST, segment=segment or "",
                   where_dim=where_dim, where_value=where_value)


def period_label(filters: Filters, client: Client | None = None, phases: tuple[str, ...] = ()) -> tuple[str, str]:
    """The period shown: the one asked for; where a bound is open, the data's own first or last day."""
    start, end = filters.start.date().isoformat(), filters.end.date().isoformat()
    if client is None or (filters.start != queries.EARLIEST and filters.end != queries.LATEST):
        return (start, end)
    span = queries.select(client, SPAN, queries.parameters(filters, phases)).as_dicts()[0]
    if not span["steps"]:
        since = f" from {start}" if filters.start != queries.EARLIEST else ""
        until = f" before {end}" if filters.end != queries.LATEST else ""
        return (f"no events{since}{until}", "")
    first = span["first"].date().isoformat() if filters.start == queries.EARLIEST else start
    last = span["last"].date().isoformat() if filters.end == queries.LATEST else end
    return (first, last)


def segments(client: Client) -> list[str]:
    return [str(row[0]) for row in queries.select(client, SEGMENTS, {}).rows]


def run(client: Client, name: str, filters: Filters, phases: tuple[str, ...]) -> list[dict[str, Any]]:
    """One of this package's queries, or a shared named query, as dicts."""
    if name not in QUERIES:
        return queries.run(client, name, filters, phases).as_dicts()
    return queries.select(client, QUERIES[name], queries.parameters(filters, phases)).as_dicts()


def fetch(client: Client, filters: Filters, phases: tuple[str, ...]) -> MapRows:
    """Every query the map needs, for one window: the shared cells query and this package's own."""
    customers = run(client, "customers", filters, phases)
    return MapRows(customers=int(customers[0]["customers"]) if customers else 0,
                   cells=run(client, "experience_map", filters, phases),
                   phases=run(client, "phases", filters, phases), outcomes=run(client, "outcomes", filters, phases),
                   frictions=run(client, "frictions", filters, phases))


PATHS_DEPTH, PATHS_PER_POSITION = 3, 6


def fetch_paths(client: Client, filters: Filters, paths_from: str = "") -> tuple[Transition, ...]:
    """The paths analysis (`journeys paths`) of the map's window: `PATHS_DEPTH` transitions from the
    step `paths_from` (or from each journey's start), the `PATHS_PER_POSITION` busiest at each position."""
    result = run_analysis(client, "paths", replace(filters, limit=PATHS_PER_POSITION), Extra(anchor=paths_from, direction="from", depth=PATHS_DEPTH))
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    return tuple(Transition(int(r["position"]), str(r["from_step"]), str(r["to_step"]), int(r["transitions"]),
                            int(r["journeys"]), float(r["share"]), float(r["median_s"] or 0.0)) for r in rows)
