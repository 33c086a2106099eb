"""ClickHouse stage: the named analytical queries shared by the CLI, reports and dashboards.

Each query is one documented SQL text with bound server-side parameters (`{name:Type}`): user
input never becomes SQL text. Filters: `start`/`end` (a half-open time window on the query's
time column), `channel`, `segment`, `touchpoint` ('' = all) and `limit`; `phases` (the journey
map's phase order) is bound too. Every query reads the newest version of versioned rows (FINAL)
and hides retracted journeys and frictions, so replays and re-sent versions change nothing.
The SQL texts are built here from fixed fragments (clickhouse/sql.py) at import time only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from clickhouse import sql
from clickhouse.analyses.judge_sql import NAMED_INCIDENTS_SQL
from schemas.errors import JourneysError, UnknownQueryError, WarehouseError

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
DEFAULT_LIMIT = 20
MAX_LIMIT = 100_000
# What a DateTime64 holds: a moment outside reached ClickHouse unpadded ("1-01-01") and failed there.
FIRST_MOMENT = datetime(1900, 1, 1, tzinfo=UTC)
LAST_MOMENT = datetime(2299, 12, 31, tzinfo=UTC)


class WindowError(JourneysError, ValueError):
    """A window the warehouse cannot hold (a year before 1900 or after 2299)."""


def check_window(*moments: datetime) -> None:
    for moment in moments:
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        if not FIRST_MOMENT <= aware <= LAST_MOMENT:
            raise WindowError(f"{moment.isoformat()} is outside the times the warehouse holds "
                              f"({FIRST_MOMENT:%Y-%m-%d} to {LAST_MOMENT:%Y-%m-%d})")
UNKNOWN_TABLE = "(UNKNOWN_TABLE)"  # how ClickHouse names a missing table in its errors
FILTERS = ("start", "end", "channel", "segment", "touchpoint", "where", "limit")
# Queries that break down by a context dimension (`--by DIM`): NAME -> the query that does it.
BY_DIMENSION = {"funnel": "funnel_by_dimension", "friction_top": "friction_by_dimension"}


class WarehouseEmptyError(WarehouseError):
    """The warehouse has no tables yet: nothing was migrated or loaded into this database."""

    def __init__(self, database: str) -> None:
        self.database = database
        super().__init__(f"the warehouse has no tables yet (database {database!r}): run `journeys migrate`, "
                         "or load it with `journeys up` or `journeys demo`")


@dataclass(frozen=True)
class Filters:
    """What to look at. Empty strings mean "all"."""

    start: datetime = EARLIEST
    end: datetime = LATEST
    channel: str = ""
    segment: str = ""
    touchpoint: str = ""
    where_dim: str = ""  # keep only what carried context[where_dim] == where_value
    where_value: str = ""
    dim: str = ""  # the context dimension a *_by_dimension query breaks down by
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str
    filters: tuple[str, ...]


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


_WINDOW = ("start", "end")
_JOURNEY_FILTERS = (*_WINDOW, "channel", "segment", "where")
QUERIES: dict[str, NamedQuery] = {q.name: q for q in (
    NamedQuery("funnel", "Journeys reaching each phase (at or beyond), share of start, step conversion, "
               "drop-off (furthest phase exactly here) and, on the purchase row, the average hours from journey "
               "start to first purchase (time to convert). Window on journey start.",
               sql.funnel(None), _JOURNEY_FILTERS),
    NamedQuery("funnel_by_segment", "The funnel per segment (persona).",
               sql.funnel("segment"), _JOURNEY_FILTERS),
    NamedQuery("funnel_by_channel", "The funnel per first channel of the journey.",
               sql.funnel("first_channel"), _JOURNEY_FILTERS),
    NamedQuery("funnel_by_period", "The funnel per month of journey start.",
               sql.funnel("period"), _JOURNEY_FILTERS),
    NamedQuery("funnel_by_dimension", "The funnel per value of a context dimension (`--by DIM`): a journey "
               "counts under the value its first event carrying the dimension had ('' if none did).",
               sql.funnel("dimension_value"), (*_JOURNEY_FILTERS, "by")),
    NamedQuery("friction_top", "Top-N frictions by touchpoint and rule: count, customers, high-severity count "
               "and share of all frictions. Window on detected_at.",
               sql.FRICTION_TOP, FILTERS),
    NamedQuery("friction_by_dimension", "Top-N frictions per value of a context dimension (`--by DIM`), a "
               "friction counting under the value its evidence events carried; share within the value.",
               sql.FRICTION_BY_DIMENSION, (*FILTERS, "by")),
    NamedQuery("friction_over_time", "Frictions per day and rule. Window on detected_at.",
               sql.FRICTION_OVER_TIME, (*_WINDOW, "channel", "segment", "touchpoint", "where")),
    NamedQuery("touchpoint_scorecard", "Each touchpoint's measures (touchpoint, kpi, value): web time on page, "
               "navigation ease, online sales, checkout abandonment rate; call wait, transfer rate, first-contact "
               "resolution; e-mail response time and bounces; store visits, purchases, conversion (channel row "
               "`store`), queue wait; CSAT and NPS per touchpoint the feedback is about. Window on event time.",
               sql.SCORECARD, (*_WINDOW, "channel", "segment", "touchpoint", "where")),
    NamedQuery("journey_health", "Live health (metric, value): active, stalled and closed journeys in the window, "
               "dead letters, events, lag, end-to-end latency, sink errors and retries.",
               sql.JOURNEY_HEALTH, _JOURNEY_FILTERS),
    NamedQuery("experience_map", "Experience-map cells per phase x touchpoint: steps, customers, share of "
               "customers, frictions, friction rate, top friction rule, average CSAT. Window on event time.",
               sql.EXPERIENCE_MAP, (*_WINDOW, "channel", "segment", "touchpoint", "where")),
    NamedQuery("incidents", "Incidents by week (first_period, last_period, touchpoint, family, what, who, periods, "
               "numerator, denominator, rate, baseline_rate, effect, score): each week of each touchpoint x rule or "
               "step, for everyone and each dimension value, against its 4 trailing weeks (the window's first 4 "
               "weeks are the first baseline), judged in SQL as on the Incidents dashboard. `journeys incidents` "
               "judges the same counts with more options (hours, days, seasons, live). Window on event time.",
               NAMED_INCIDENTS_SQL, (*_WINDOW, "channel", "segment", "where")),
)}


def split_where(where: str) -> tuple[str, str]:
    """`DIM=VALUE` (a context dimension and its value) -> (DIM, VALUE); ("", "") when either is missing."""
    dim, _, value = where.partition("=")
    return (dim, value) if dim and value else ("", "")


def named_query(name: str) -> NamedQuery:
    try:
        return QUERIES[name]
    except KeyError:
        raise UnknownQueryError(f"no query named {name!r}; known: {', '.join(sorted(QUERIES))}") from None


def parameters(filters: Filters, phases: tuple[str, ...]) -> dict[str, Any]:
    """The bound parameters of every query (times as naive UTC, the columns' zone)."""
    if not 0 < filters.limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    check_window(filters.start, filters.end)
    return {"start": _naive_utc(filters.start), "end": _naive_utc(filters.end), "channel": filters.channel,
            "segment": filters.segment, "touchpoint": filters.touchpoint, "limit": filters.limit,
            "where_dim": filters.where_dim, "where_value": filters.where_value, "dim": filters.dim,
            "phases": list(phases)}


def run(client: Client, name: str, filters: Filters, phases: tuple[str, ...]) -> QueryResult:
    """Run a named query with bound filters."""
    return select(client, named_query(name).sql, parameters(filters, phases))


def select(client: Client, text: str, bound: dict[str, Any]) -> QueryResult:
    """Run a SELECT; a warehouse without the tables is WarehouseEmptyError (say what to run), not a traceback."""
    try:
        result = client.query(text, parameters=bound)
    except Exception as err:
        if UNKNOWN_TABLE in str(err):
            raise WarehouseEmptyError(client.database or "default") from None
        raise
    return QueryResult(tuple(result.column_names), [tuple(row) for row in result.result_rows])


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
