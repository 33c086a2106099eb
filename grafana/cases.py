"""Grafana stage, pure core of the panel check: every query as Grafana would send it, and what
its panel needs back.

For each panel target this expands the SQL for a time range and for each selection of the
variables it uses (everything All, then each single value of one variable with the others All),
exactly as the browser and the plugin would (grafana.macros). Alert queries are expanded the
backend-only way. `shape_problems` says what a result lacks for its panel type (a time column
first for time series, a number for stats and bars, a label for bar charts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from grafana.alerts import AlertRule
from grafana.macros import QueryContext, expand_alert_query, expand_panel_query
from grafana.model import Dashboard, Variable
from grafana.templating import ALL, VariableState

MAX_DATA_POINTS = 1000  # a panel about a thousand pixels wide
MIN_INTERVAL_MS = 1000
ALL_SELECTED = "All"
NUMERIC = re.compile(r"^(Nullable\()?(U?Int\d+|Float\d+|Decimal)")
TEMPORAL = re.compile(r"^(Nullable\()?(Date|DateTime)")


@dataclass(frozen=True)
class QueryCase:
    """One query to run: where it comes from, the selection it was expanded for, and the SQL."""

    dashboard: str
    panel: str
    kind: str  # the panel type, or "alert" / "alert_rows" (one instance per row) / "variable"
    selection: str
    sql: str

    def where(self) -> str:
        return f"{self.dashboard} / {self.panel} [{self.selection}]"


def panel_context(start: datetime, end: datetime) -> QueryContext:
    """The interval Grafana would pick for this range: range / max data points, at least 1 s."""
    range_ms = int((end - start).total_seconds() * 1000)
    return QueryContext(start, end, interval_ms=max(MIN_INTERVAL_MS, range_ms // MAX_DATA_POINTS))


def all_selected(variables: Sequence[Variable], options: Mapping[str, tuple[str, ...]]) -> dict[str, VariableState]:
    return {v.name: VariableState(v.name, (ALL,), options.get(v.name, ())) for v in variables}


def variable_cases(dashboard: Dashboard, options: Mapping[str, tuple[str, ...]], ctx: QueryContext) -> list[QueryCase]:
    """The variables' own queries, expanded with every earlier variable at All."""
    states = all_selected(dashboard.variables, options)
    return [QueryCase(dashboard.uid, f"${v.name}", "variable", ALL_SELECTED, expand_panel_query(v.sql, states, ctx))
            for v in dashboard.variables]


def uses(sql: str, name: str) -> bool:
    return re.search(rf"\$(\{{)?{re.escape(name)}\b", sql) is not None


def selections(sql: str, variables: Sequence[Variable], options: Mapping[str, tuple[str, ...]]
               ) -> list[tuple[str, dict[str, VariableState]]]:
    """All, then each single value of each variable the query uses (the others All)."""
    base = all_selected(variables, options)
    found = [(ALL_SELECTED, base)]
    for variable in variables:
        if not uses(sql, variable.name):
            continue
        for value in options.get(variable.name, ()):
            single = VariableState(variable.name, (value,), options.get(variable.name, ()))
            found.append((f"{variable.name}={value}", {**base, variable.name: single}))
    return found


def panel_cases(dashboard: Dashboard, options: Mapping[str, tuple[str, ...]], ctx: QueryContext) -> list[QueryCase]:
    """Every target of every panel, for every selection."""
    cases = []
    for panel in dashboard.panels:
        for target in panel.targets:
            for label, states in selections(target.sql, dashboard.variables, options):
                sql = expand_panel_query(target.sql, states, ctx)
                cases.append(QueryCase(dashboard.uid, panel.title, panel.kind, label, sql))
    return cases


def alert_cases(rules: Sequence[AlertRule], end: datetime) -> list[QueryCase]:
    """Each alert query as the alerting engine runs it at `end` (now - range .. now)."""
    return [QueryCase("alerting", rule.title, "alert_rows" if rule.per_row else "alert", f"last {rule.range_s} s",
                      expand_alert_query(rule.sql, QueryContext(end - timedelta(seconds=rule.range_s), end)))
            for rule in rules]


def shape_problems(kind: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[object]]) -> list[str]:
    """What the result lacks for its panel type; empty when it fits."""
    types = [t for _, t in columns]
    names = {n for n, _ in columns}
    numeric = any(NUMERIC.match(t) for t in types)
    if kind == "timeseries":
        if not columns or columns[0][0] != "time" or not TEMPORAL.match(types[0]):
            return [f"a time series needs a first column `time` of a date/time type, got {list(columns)}"]
        times = [row[0] for row in rows]
        problems = [] if times == sorted(times) else ["time series rows are not ordered by time"]  # type: ignore[type-var]
        return problems + ([] if numeric else ["a time series needs a numeric column"])
    if kind in ("stat", "bargauge", "alert") and not numeric:
        return [f"a {kind} needs a numeric column, got {list(columns)}"]
    if kind == "alert" and (len(rows) != 1 or sum(1 for t in types if NUMERIC.match(t)) != 1):
        return [f"an alert query must return one row with one numeric column, got {len(rows)} rows of {list(columns)}"]
    if kind == "alert_rows" and sum(1 for t in types if NUMERIC.match(t)) != 1:
        return [f"a per-row alert query needs exactly one numeric column (the rest are labels), got {list(columns)}"]
    if kind == "nodeGraph" and not ({"id", "source", "target"} <= names or {"id", "title"} <= names):
        return [f"a node graph needs nodes (id, title) or edges (id, source, target), got {list(columns)}"]
    if kind == "barchart" and not (numeric and any(not NUMERIC.match(t) for t in types)):
        return [f"a bar chart needs a label column and a numeric column, got {list(columns)}"]
    return []
