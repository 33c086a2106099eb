"""ClickHouse stage, analyses: incidents, the counting half (the judging is in `baseline`).

One query counts, per period (hour, day, week) and per who (everyone, and each `dim=value` of the
chosen context dimensions an event carried), three families of cells:
- step: journeys with that touchpoint:event_type, of the journeys at the touchpoint (an error
  share, a back-step share, an order share: a step's conversion from the touchpoint's journeys);
- friction: journeys with that rule at the touchpoint (by detected_at; who from the evidence
  events), of the journeys at the touchpoint;
- volume: events at the touchpoint.
The scan starts the baseline's periods (of the same season) before the window, so its first period
has a full baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from clickhouse.analyses import baseline
from clickhouse.analyses.baseline import Count, Incident, Thresholds
from clickhouse.analyses.sqlparts import SCOPE, period_of
from clickhouse.queries import Filters, parameters

FAMILIES = ("step", "friction", "volume")
DEFAULT_FAMILIES = ("step", "friction")  # volume follows traffic's own trends: opt in with --what volume
PERIOD_LENGTH = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
WHO = ("arrayConcat(['*'], arrayMap(d -> concat(d, '=', context[d]), "
       "arrayFilter(d -> mapContains(context, d), {dims:Array(String)})))")
IN_WINDOW = "{t} >= {{scan_start:DateTime64(3, 'UTC')}} AND {t} < {{end:DateTime64(3, 'UTC')}}"
SCAN = IN_WINDOW.format(t="event_time")
# Frictions of the journeys in scope; the scan for them is skipped (a constant false) when no filter is set.
FILTERED = "({channel:String} != '' OR {segment:String} != '' OR {where_dim:String} != '')"
FRICTION_SCOPE = (f"(NOT {FILTERED} OR journey_id IN (SELECT journey_id FROM touchpoints "
                  f"WHERE {FILTERED} AND {SCAN} AND {SCOPE}))")


def counts_sql(period_of: Callable[[str], str] = period_of) -> str:
    """The counting SQL, with `period_of(column)` giving the period of a moment (explain passes
    'baseline' / 'current' windows). One pass over the touchpoints: GROUPING SETS count each event
    type's journeys and (event type '') all the touchpoint's journeys and events at once; the
    frictions read only their evidence events; a window over the cells hands each one its
    touchpoint's journeys as denominator."""
    return f"""
WITH at_touchpoint AS (
    SELECT period, toString(touchpoint) AS touchpoint, toString(event_type) AS what, who,
           uniqExact(journey_id) AS journeys, count() AS events
    FROM (
        SELECT {period_of('event_time')} AS period, touchpoint, event_type, journey_id, arrayJoin({WHO}) AS who
        FROM touchpoints FINAL WHERE {SCAN} AND {SCOPE}
    )
    GROUP BY GROUPING SETS ((period, touchpoint, who, event_type), (period, touchpoint, who))
),
frictions AS (
    SELECT {period_of('detected_at')} AS period, touchpoint, rule AS what, arrayJoin(whos) AS who,
           uniqExact(journey_id) AS journeys
    FROM (
        SELECT f.friction_id, any(f.detected_at) AS detected_at, any(toString(f.touchpoint)) AS touchpoint,
               any(f.rule) AS rule, any(f.journey_id) AS journey_id,
               arrayDistinct(arrayConcat(['*'], groupArrayArray(t.who))) AS whos
        FROM (SELECT * FROM friction FINAL WHERE NOT retracted AND has({{families:Array(String)}}, 'friction')
              AND {IN_WINDOW.format(t='detected_at')} AND {FRICTION_SCOPE}) AS f
        ARRAY JOIN f.evidence AS evidence_id
        LEFT JOIN (SELECT event_id, {WHO} AS who FROM touchpoints WHERE {SCAN} AND event_id IN (
                       SELECT arrayJoin(evidence) FROM friction WHERE {IN_WINDOW.format(t='detected_at')}
                       AND has({{families:Array(String)}}, 'friction'))) AS t
            ON t.event_id = evidence_id
        GROUP BY f.friction_id
    )
    GROUP BY period, touchpoint, what, who
)
SELECT period, family, touchpoint, what, who, numerator, denominator
FROM (
    SELECT period, family, touchpoint, what, who, numerator,
           maxIf(numerator, family = 'step' AND what = '') OVER (PARTITION BY period, touchpoint, who) AS present,
           if(family = 'volume', 0, present) AS denominator
    FROM (
        -- one reference to at_touchpoint (a CTE is computed again at each): a totals row also yields volume
        SELECT a.period AS period, kind AS family, a.touchpoint AS touchpoint,
               if(kind = 'volume', 'events', a.what) AS what, a.who AS who,
               if(kind = 'volume', a.events, a.journeys) AS numerator
        FROM at_touchpoint AS a ARRAY JOIN if(a.what = '', ['step', 'volume'], ['step']) AS kind
        UNION ALL
        SELECT period, 'friction', touchpoint, what, who, journeys FROM frictions
    )
)
WHERE present > 0 AND if(family = 'step', what != '', true) AND has({{families:Array(String)}}, family)
"""


COUNTS_SQL = counts_sql()


@dataclass(frozen=True)
class IncidentQuery:
    start: datetime
    end: datetime
    period: str = "week"
    dimensions: tuple[str, ...] = ()
    families: tuple[str, ...] = DEFAULT_FAMILIES
    filters: Filters = field(default_factory=Filters)
    limits: Thresholds = field(default_factory=Thresholds)

    def scan_start(self) -> datetime:
        return self.periods()[0]

    def periods(self) -> list[datetime]:
        """Every period start from the baseline's warm-up before the window's first to the window's end."""
        step = PERIOD_LENGTH[self.period]
        first = align(_utc(self.start), self.period) - step * self.limits.warm_up
        out, moment = [], first
        while moment < _utc(self.end):
            out.append(moment)
            moment += step
        return out


def align(moment: datetime, period: str) -> datetime:
    """The start of the period `moment` falls in (weeks start on Monday), as ClickHouse computes it."""
    if period == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if period == "week" else day


def counts(client: Client, query: IncidentQuery) -> list[Count]:
    """The counted cells of every period of the scan."""
    bound = parameters(query.filters, ()) | {
        "scan_start": query.scan_start().replace(tzinfo=None), "end": _utc(query.end).replace(tzinfo=None),
        "period": query.period, "dims": list(query.dimensions), "families": list(query.families)}
    rows = client.query(COUNTS_SQL, parameters=bound).result_rows
    return [Count(_utc(period), family, touchpoint, what, who, int(x), int(n))
            for period, family, touchpoint, what, who, x, n in rows]


def find_incidents(client: Client, query: IncidentQuery) -> list[Incident]:
    """Incidents that touch the window [start, end), each judged against its trailing periods."""
    periods, cells = query.periods(), counts(client, query)
    flagged = baseline.judge(cells, periods, query.limits)
    window_start = align(_utc(query.start), query.period)
    return baseline.concentrate([i for i in baseline.incidents(flagged, periods) if i.end >= window_start], cells)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
