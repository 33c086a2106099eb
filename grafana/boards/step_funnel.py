"""Grafana stage: the step-funnel panel (cart -> checkout -> order, per day and device).

The panel runs the step-funnel analysis of clickhouse/analyses (the same SQL as `journeys funnel`)
with its bound parameters written as literals fixed here: Grafana's ClickHouse plugin does not
bind `{name:Type}` parameters. Only constants of this module and Grafana's time macros enter the
text; dashboard variables do not (the breakdown is by device, the window the dashboard's).
"""

from __future__ import annotations

import re

from clickhouse.analyses.funnels import funnel_sql
from clickhouse.analyses.sqlparts import PARAMETER
from grafana.model import Column, Panel, Target, Thresholds

STEPS = ("web.product:product_view", "web.checkout:checkout_step", "web.checkout:order_placed")
WITHIN_MS = 7 * 86_400_000
LITERALS = {
    "steps": "[" + ", ".join(f"'{s}'" for s in STEPS) + "]", "within_ms": str(WITHIN_MS), "period": "'day'",
    "by": "'device_type'", "start": "$__fromTime_ms", "end": "$__toTime_ms", "channel": "''", "segment": "''",
    "where_dim": "''", "where_value": "''",
}
FROM_START_PCT = Thresholds.higher_is_better(warn_below=0.1, good_from=0.25)


def with_literals(sql: str, literals: dict[str, str]) -> str:
    """`sql` with each `{name:Type}` parameter replaced by its literal; an unknown name is an error."""
    def literal(match: re.Match[str]) -> str:
        if match.group(1) not in literals:
            raise KeyError(f"no literal for the parameter {match.group(1)!r} of a panel query")
        return literals[match.group(1)]

    return PARAMETER.sub(literal, sql)


def panel() -> Panel:
    sql = with_literals(funnel_sql("any", "$__timeFilter(entered)"), LITERALS)
    return Panel("Step funnel by device (product -> checkout -> order, within 7 days)", "table", (Target(sql),),
                 width=24, description="Journeys reaching each step in order, per day of the first step and per "
                 "device type; from_start and from_previous_step are shares; change_vs_previous compares with the "
                 "day before. `journeys funnel` runs the same SQL with any steps.",
                 columns=(Column("from_start", "percentunit", FROM_START_PCT), Column("from_previous_step", "percentunit")))
