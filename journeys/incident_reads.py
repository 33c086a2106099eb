"""Entry layer: one `journeys incidents` request, run where the warehouse is.

The command runs it on the warehouse when it can open it; while `journeys up` (or a worker with
the sink) holds the embedded warehouse, that process runs it for the command through its read
endpoint (`GET /v1/incidents`, journeys/reads.py). Both build the query here from the same
options, which travel as query-string parameters, so the two answers are the same. `last`
(seconds) anchors the window at the data's present (clickhouse/analyses/recent.py) when the
request runs, not when it was written: the endpoint resolves it against its own warehouse.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from clickhouse.analyses.baseline import Thresholds
from clickhouse.analyses.counting import FAMILIES, PERIOD_LENGTH
from clickhouse.analyses.incidents import IncidentQuery, find_incidents
from clickhouse.analyses.recent import RecentQuery, data_now, recent_incidents
from clickhouse.queries import EARLIEST, LATEST, Filters, QueryResult, check_window, split_where
from schemas.errors import JourneysError
from schemas.journeymap import JourneyMap

DURATION = re.compile(r"^([1-9]\d*)([smhdw])$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_PERIODS = 40_000  # --from/--to: a century of days; hours over a century would be 876,600 periods
MAX_BASELINE_PERIODS = 52  # as the command's --baseline allows
MAX_RECENT_PERIODS = 2000  # the judge walks every period of every cell: a month in minutes would stall it
SEASONS = {"hour": 168, "day": 7, "week": 1}  # periods in a week
COLUMNS = ("start", "end", "family", "touchpoint", "what", "who")  # of an empty answer
LIVE_END_SLACK = timedelta(milliseconds=1)  # the window ends just after the newest event (end is exclusive)


class IncidentRequestError(JourneysError):
    """An incidents request that cannot run as asked (a bad option value, an undeclared dimension)."""


@dataclass(frozen=True)
class IncidentOptions:
    """What `journeys incidents` asks, as plain values (strings travel to the endpoint and back)."""

    start: datetime | None = None
    end: datetime | None = None
    last_s: int = 0  # > 0: the window is the last this many seconds of the data, not start/end
    period: str = "week"
    dims: tuple[str, ...] = ()
    families: tuple[str, ...] = ("step", "friction")
    baseline_periods: int = 4
    seasonal: bool = False
    z: float = 4.0
    min_count: int = 5
    channel: str = ""
    segment: str = ""
    where: str = ""

    def as_params(self) -> dict[str, str]:
        out = {}
        for name, value in asdict(self).items():
            if isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, bool):
                value = "1" if value else ""
            out[name] = "" if value is None else str(value)
        return out

    @classmethod
    def from_params(cls, params: dict[str, str]) -> IncidentOptions:
        unknown = set(params) - {f.name for f in fields(cls)}
        if unknown:
            raise IncidentRequestError(f"incidents takes no {', '.join(sorted(unknown))}")
        try:
            return cls(**{name: _parsed(name, text) for name, text in params.items() if text != ""})
        except ValueError as err:
            raise IncidentRequestError(f"incidents: {err}") from None

    def check(self, journey_map: JourneyMap) -> None:
        """Every value names something that exists (a typo would silently find nothing)."""
        if self.period not in PERIOD_LENGTH and not (self.last_s and duration_s(self.period)):
            raise IncidentRequestError(f"period must be one of {', '.join(PERIOD_LENGTH)}, or with --last a "
                                       f"duration such as 30m or 6h (got {self.period!r})")
        if self.seasonal and self.period not in SEASONS:
            raise IncidentRequestError(f"--seasonal needs --period hour or day (got {self.period!r})")
        if not self.families or set(self.families) - set(FAMILIES):
            raise IncidentRequestError(f"what takes {', '.join(FAMILIES)} (got {','.join(self.families)!r})")
        undeclared = [d for d in (*self.dims, split_where(self.where)[0] if self.where else "")
                      if d and d not in journey_map.dimension_names]
        if undeclared:
            raise IncidentRequestError(f"{', '.join(undeclared)}: not a dimension of the journey map "
                                       f"(declared: {', '.join(journey_map.dimension_names) or 'none'})")
        if len(set(self.dims)) != len(self.dims) or len(set(self.families)) != len(self.families):
            raise IncidentRequestError("a dimension or family is given twice (each would be counted once per mention)")
        if self.last_s < 0 or not (math.isfinite(self.z) and self.z >= 1) or self.min_count < 1:
            raise IncidentRequestError("last_s must be positive, z a number of at least 1, min_count at least 1")
        if not 1 <= self.baseline_periods <= MAX_BASELINE_PERIODS:
            raise IncidentRequestError(f"baseline_periods must be between 1 and {MAX_BASELINE_PERIODS} "
                                       f"(got {self.baseline_periods})")
        check_window(*(m for m in (self.start, self.end) if m is not None))
        if self.period in PERIOD_LENGTH and not self.last_s:
            span = (self.end or LATEST) - (self.start or EARLIEST)
            if span / PERIOD_LENGTH[self.period] > MAX_PERIODS:
                raise IncidentRequestError(f"{span.days} days in periods of a {self.period} is more than {MAX_PERIODS} "
                                           "periods: give --from/--to (a shorter window) or a longer --period")
        if self.last_s and (self.start or self.end):
            raise IncidentRequestError("give --last or --from/--to, not both")
        length_s = PERIOD_LENGTH[self.period].total_seconds() if self.period in PERIOD_LENGTH else duration_s(self.period)
        if self.last_s and self.last_s / length_s > MAX_RECENT_PERIODS:
            raise IncidentRequestError(f"--last {self.last_s} s in periods of {self.period} is more than "
                                       f"{MAX_RECENT_PERIODS} periods: give a longer --period or a shorter --last")


def _parsed(name: str, text: str) -> Any:
    if name in ("start", "end"):
        return datetime.fromisoformat(text)
    if name in ("dims", "families"):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if name in ("last_s", "baseline_periods", "min_count"):
        return int(text)
    if name == "z":
        return float(text)
    return bool(text) if name == "seasonal" else text


def duration_s(text: str) -> int:
    """Seconds of a duration such as 30m, 6h, 2d or 1w (0 when it is not one)."""
    match = DURATION.match(text.strip())
    return int(match.group(1)) * UNIT_S[match.group(2)] if match else 0


def incident_query(options: IncidentOptions, journey_map: JourneyMap) -> IncidentQuery:
    """The query the options ask for (with `last`, its window and period are replaced by a RecentQuery's)."""
    options.check(journey_map)
    start, end = options.start or EARLIEST, options.end or LATEST
    where_dim, where_value = split_where(options.where) if options.where else ("", "")
    filters = Filters(start=start, end=end, channel=options.channel, segment=options.segment,
                      where_dim=where_dim, where_value=where_value)
    limits = Thresholds(z=options.z, min_count=options.min_count, baseline_periods=options.baseline_periods,
                        season=SEASONS[options.period] if options.seasonal else 1,
                        live=bool(options.last_s))  # short periods: see clickhouse/analyses/baseline.py
    return IncidentQuery(start=start, end=end, period=options.period if options.period in PERIOD_LENGTH else "hour",
                         dimensions=options.dims or journey_map.dimension_names, families=options.families,
                         filters=filters, limits=limits)


def recent_query(client: Client, options: IncidentOptions, query: IncidentQuery) -> RecentQuery | None:
    """The last `last_s` of the data in periods that end at its present; None while the warehouse is empty."""
    now = data_now(client)
    if now is None:
        return None
    length = PERIOD_LENGTH.get(options.period) or timedelta(seconds=duration_s(options.period))
    return RecentQuery(query, now + LIVE_END_SLACK, timedelta(seconds=options.last_s), length)


def run_incidents(client: Client, options: IncidentOptions, journey_map: JourneyMap) -> QueryResult:
    """The incidents the options ask for, as a table (one row per incident)."""
    query = incident_query(options, journey_map)
    if options.last_s:
        recent = recent_query(client, options, query)
        found = recent_incidents(client, recent) if recent is not None else []
    else:
        found = find_incidents(client, query)
    rows = [asdict(i) for i in found]
    return QueryResult(tuple(rows[0]) if rows else COLUMNS, [tuple(r.values()) for r in rows])
