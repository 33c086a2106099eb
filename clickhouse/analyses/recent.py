"""ClickHouse stage, analyses: "now" as the data knows it, for the windows that end at the present.

Live analyses (`journeys incidents --last 12h`) look back from the present. The present of the
warehouse is its newest event time: on a real feed that is the wall clock, give or take the
pipeline's latency; on a replay or a paced simulation (`journeys up` publishes a month in
minutes) it is wherever the feed has got to, and the wall clock would point past all of it.
An event time in the future (a client with a wrong clock) cannot move it past the wall clock.

Calendar periods (an hour from :00) leave the newest one incomplete: judged on its first minutes,
or on a simulated hour that is a second of wall time. `recent_incidents` judges periods that
slide with the data instead: the newest is the last `length` before the present, the ones before
it the same length each, so every judged period is complete and the incident's first period is
judged as soon as it holds enough events (the same counts, `counts_sql` with a sliding
`period_of`, and the same judge as `journeys incidents --from --to`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from clickhouse.analyses import baseline
from clickhouse.analyses.baseline import Count, Incident
from clickhouse.analyses.counting import counts_sql
from clickhouse.analyses.incidents import IncidentQuery
from clickhouse.queries import parameters

NEWEST_EVENT_SQL = "SELECT max(event_time), count() FROM touchpoints WHERE event_time <= now64(3)"
OLDEST_EVENT_SQL = "SELECT min(event_time) FROM touchpoints"


def data_now(client: Client) -> datetime | None:
    """The newest event time at or before the wall clock (UTC); None when no event is there yet
    (nor its table: a pipeline that is still starting)."""
    if not client.command("EXISTS TABLE touchpoints"):
        return None
    newest, events = client.query(NEWEST_EVENT_SQL).result_rows[0]
    if not events:
        return None
    moment: datetime = newest
    return _utc(moment)


def sliding_period_of(column: str) -> str:
    """The start of the sliding period `column` falls in: periods of `period_ms` end at `end`, so
    the newest one is [end - length, end), complete however far into an hour the data has got."""
    end = "{end:DateTime64(3, 'UTC')}"
    behind = f"dateDiff('millisecond', {column}, {end})"
    return f"addMilliseconds({end}, -{{period_ms:Int64}} * (intDiv({behind} - 1, {{period_ms:Int64}}) + 1))"


SLIDING_COUNTS_SQL = counts_sql(sliding_period_of)


@dataclass(frozen=True)
class RecentQuery:
    """Incidents in the last `window` of the data, in periods of `length` that end at its present."""

    query: IncidentQuery  # dimensions, families, filters and thresholds (its start, end and period are unused)
    end: datetime  # just after the newest event
    window: timedelta
    length: timedelta

    def periods(self) -> list[datetime]:
        """Every period start, oldest first: the baseline's warm-up, then the periods of the window."""
        judged = max(1, math.ceil(self.window / self.length))
        count = judged + self.query.limits.warm_up
        return [self.end - self.length * k for k in range(count, 0, -1)]


def recent_counts(client: Client, recent: RecentQuery) -> list[Count]:
    periods = recent.periods()
    query = recent.query
    bound = parameters(replace(query.filters, start=periods[0], end=recent.end), ()) | {
        "scan_start": _naive(periods[0]), "end": _naive(recent.end), "period_ms": _ms(recent.length),
        "dims": list(query.dimensions), "families": list(query.families)}
    rows = client.query(SLIDING_COUNTS_SQL, parameters=bound).result_rows
    return [Count(_utc(period), family, touchpoint, what, who, int(x), int(n))
            for period, family, touchpoint, what, who, x, n in rows]


def recent_incidents(client: Client, recent: RecentQuery) -> list[Incident]:
    """Incidents touching the window, each period judged against the periods before it, once
    they all lie within the data: a baseline that began before the first event would judge the
    data's first hours against nothing (a feed, or a simulation, that has just begun)."""
    periods, cells = recent.periods(), recent_counts(client, recent)
    first = client.query(OLDEST_EVENT_SQL).result_rows[0][0]
    judged_from = _utc(first) + recent.length * recent.query.limits.warm_up
    flagged = [v for v in baseline.judge(cells, periods, recent.query.limits) if v.count.period >= judged_from]
    window_start = recent.end - recent.window
    found = [i for i in baseline.incidents(flagged, periods) if i.end + recent.length > window_start]
    return baseline.concentrate(found, cells)


def _ms(length: timedelta) -> int:
    return int(length / timedelta(milliseconds=1))


def _naive(moment: datetime) -> datetime:
    return _utc(moment).replace(tzinfo=None)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
