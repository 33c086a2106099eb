"""ClickHouse stage, analyses: the named analyses, each one SQL text with bound parameters.

Like clickhouse/queries.py's named queries (and sharing their filters: window, channel, segment,
`where` dimension value), plus each analysis's own bound parameters: the steps of a funnel, its
window and period, the anchor and depth of paths. The CLI, Grafana panels and tests run them here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from clickhouse.analyses.conformance import CONFORMANCE_SQL
from clickhouse.analyses.counting import COUNTS_SQL, FAMILIES
from clickhouse.analyses.funnels import MAX_STEPS, funnel_sql
from clickhouse.analyses.paths import LOOPS_SQL, MAX_DEPTH, PATHS_SQL
from clickhouse.analyses.sqlparts import PERIODS, step_touchpoints
from clickhouse.queries import Filters, QueryResult, parameters, select
from schemas.errors import UnknownQueryError

MAX_WITHIN_S = 366 * 86_400  # a conversion window longer than a year is a typo, and overflows past ~292 years
ANALYSES = {
    "step_funnel": funnel_sql("any", step_rows=True),
    "step_funnel_strict": funnel_sql("strict"),
    "paths": PATHS_SQL,
    "loops": LOOPS_SQL,
    "incident_counts": COUNTS_SQL,
    "conformance": CONFORMANCE_SQL,
}


@dataclass(frozen=True)
class Extra:
    """The bound parameters of the analyses beyond the shared filters ('' / empty = not used)."""

    steps: tuple[str, ...] = ()
    within_s: int = 86_400
    period: str = "week"
    by: str = ""  # '', 'segment', 'channel' or a context dimension
    anchor: str = ""
    direction: str = "from"
    depth: int = 3
    dims: tuple[str, ...] = field(default=())
    families: tuple[str, ...] = ("step", "friction")
    phases: tuple[str, ...] = ()  # conformance: the journey map's phases in order
    max_phase_s: tuple[int, ...] = ()  # conformance: the longest stay per phase (0 = no limit)

    def check(self) -> None:
        if len(self.steps) > MAX_STEPS:
            raise ValueError(f"a funnel has at most {MAX_STEPS} steps (got {len(self.steps)})")
        if self.period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)} (got {self.period!r})")
        if not 1 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"depth must be between 1 and {MAX_DEPTH} (got {self.depth})")
        if not 0 < self.within_s <= MAX_WITHIN_S:
            raise ValueError(f"the conversion window must be positive and at most {MAX_WITHIN_S // 86_400} days "
                             f"(got {self.within_s} s)")
        if self.max_phase_s and len(self.max_phase_s) != len(self.phases):
            raise ValueError(f"one stay limit per phase ({len(self.phases)}), got {len(self.max_phase_s)}")
        if any(not 0 <= limit <= MAX_WITHIN_S * 10 for limit in self.max_phase_s):
            raise ValueError(f"a stay limit is 0 (none) or a positive number of seconds (got {self.max_phase_s})")
        if len(set(self.dims)) != len(self.dims) or len(set(self.families)) != len(self.families):
            raise ValueError("a dimension or family is given twice (each would be counted once per mention)")
        if set(self.families) - set(FAMILIES):
            raise ValueError(f"families are {', '.join(FAMILIES)} (got {', '.join(self.families)})")


def bound(filters: Filters, extra: Extra) -> dict[str, Any]:
    extra.check()
    return parameters(filters, ()) | {
        "steps": list(extra.steps), "within_ms": extra.within_s * 1000, "period": extra.period, "by": extra.by,
        "anchor": extra.anchor, "direction": extra.direction, "depth": extra.depth, "dims": list(extra.dims),
        "families": list(extra.families), "scan_start": parameters(filters, ())["start"],
        "step_touchpoints": step_touchpoints(extra.steps),
        "phases": list(extra.phases), "max_phase_s": list(extra.max_phase_s) or [0] * len(extra.phases)}


def run_analysis(client: Client, name: str, filters: Filters, extra: Extra) -> QueryResult:
    if name not in ANALYSES:
        raise UnknownQueryError(f"no analysis named {name!r}; known: {', '.join(sorted(ANALYSES))}")
    return select(client, ANALYSES[name], bound(filters, extra))  # an unmigrated warehouse: say what to run
