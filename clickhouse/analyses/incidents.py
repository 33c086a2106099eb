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

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from clickhouse.analyses import baseline
from clickhouse.analyses.baseline import Count, Incident, Thresholds
from clickhouse.analyses.counting import (
    COUNTS_SQL,
    DEFAULT_FAMILIES,
    KNOWN_COUNTS_SQL,
    PERIOD_LENGTH,
    UNKNOWN_FRICTIONS_SQL,
)
from clickhouse.queries import Filters, parameters


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
    unknown = int(client.query(UNKNOWN_FRICTIONS_SQL, parameters=bound).result_rows[0][0])
    rows = client.query(COUNTS_SQL if unknown else KNOWN_COUNTS_SQL, parameters=bound).result_rows
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
