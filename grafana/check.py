"""Grafana stage, adapter of the panel check: run every expanded query on the warehouse.

`journeys grafana check` and the tests call `check()`: it reads each variable's options from
ClickHouse (as Grafana does when a dashboard loads), expands every panel and alert query for
each selection (grafana.cases), runs it, and returns one outcome per query with its columns,
row count and any error or shape problem, so a broken panel is named with its dashboard,
panel and selection before anyone opens Grafana.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from clickhouse_connect.driver.client import Client

from grafana.alerts import ALERT_RULES, AlertRule
from grafana.cases import QueryCase, alert_cases, panel_cases, panel_context, shape_problems, variable_cases
from grafana.model import Dashboard


@dataclass(frozen=True)
class Outcome:
    """What one query returned: its columns (name, ClickHouse type), rows, and what was wrong."""

    case: QueryCase
    columns: tuple[tuple[str, str], ...] = ()
    rows: tuple[tuple[object, ...], ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems


def run(client: Client, case: QueryCase) -> Outcome:
    """Run one query; errors become problems, never exceptions."""
    try:
        result = client.query(case.sql)
    except Exception as err:  # any failure of a panel query is a finding, reported with its panel
        return Outcome(case, problems=(f"{type(err).__name__}: {str(err).strip().splitlines()[0]}",))
    columns = tuple(zip(result.column_names, (t.name for t in result.column_types), strict=True))
    rows = tuple(tuple(row) for row in result.result_rows)
    if not columns:  # an empty result may come back without its header: ask for the shape
        columns = tuple((str(r[0]), str(r[1])) for r in client.query(f"DESCRIBE TABLE ({case.sql})").result_rows)
    return Outcome(case, columns, rows, tuple(shape_problems(case.kind, columns, rows)))


def variable_options(client: Client, dashboard: Dashboard, start: datetime, end: datetime
                     ) -> tuple[dict[str, tuple[str, ...]], list[Outcome]]:
    """Each variable's options, read in order (a later variable's query may use an earlier one),
    with the outcome of each variable query; a failed one offers no options."""
    options: dict[str, tuple[str, ...]] = {}
    outcomes = []
    ctx = panel_context(start, end)
    for variable in dashboard.variables:
        case = next(c for c in variable_cases(dashboard, options, ctx) if c.panel == f"${variable.name}")
        outcome = run(client, case)
        options[variable.name] = tuple(str(row[0]) for row in outcome.rows)
        outcomes.append(outcome)
    return options, outcomes


def check(client: Client, dashboards: Sequence[Dashboard], start: datetime, end: datetime,
          rules: Sequence[AlertRule] = ALERT_RULES) -> list[Outcome]:
    """Every variable, panel and alert query, run for the range [start, end]."""
    outcomes = []
    ctx = panel_context(start, end)
    for dashboard in dashboards:
        options, variable_outcomes = variable_options(client, dashboard, start, end)
        outcomes += variable_outcomes + [run(client, case) for case in panel_cases(dashboard, options, ctx)]
    return outcomes + [run(client, case) for case in alert_cases(rules, end)]
