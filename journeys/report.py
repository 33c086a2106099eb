"""The demo's closing report: the funnel, the top friction points and the touchpoint scorecard.

Read through the named queries (clickhouse.queries), so the numbers are the ones analysts and the
dashboards see; laid out for a terminal (the scorecard pivoted to one row per touchpoint).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from clickhouse.queries import Filters, QueryResult, run
from journeys.settings import Settings
from schemas.journeymap import JourneyMap

TOP_FRICTION = 10
RATIO_HINTS = ("share", "rate", "from_previous", "conversion", "resolution")


def print_report(console: Console, settings: Settings, journey_map: JourneyMap) -> dict[str, int]:
    """Print the three tables; returns their row counts (a demo with an empty table has failed)."""
    from clickhouse.client import connect

    client = connect(settings)
    try:
        phases = journey_map.phase_ids
        funnel = run(client, "funnel", Filters(), phases)
        friction = run(client, "friction_top", Filters(limit=TOP_FRICTION), phases)
        scorecard = run(client, "touchpoint_scorecard", Filters(), phases)
    finally:
        client.close()
    console.print(as_table("Journey funnel (journeys reaching each phase or beyond)", funnel))
    console.print(as_table(f"Top {TOP_FRICTION} friction points", friction))
    for table in pivot_scorecard(scorecard, journey_map):
        console.print(table)
    return {"funnel": len(funnel.rows), "friction": len(friction.rows), "scorecard": len(scorecard.rows)}


def as_table(title: str, result: QueryResult) -> Table:
    table = Table(title=title, title_justify="left")
    for column in result.columns:
        table.add_column(column.replace("_", " "), justify="left" if column in ("phase", "touchpoint", "rule") else "right")
    for row in result.rows:
        table.add_row(*(fmt(column, value) for column, value in zip(result.columns, row, strict=True)))
    return table


def pivot_scorecard(result: QueryResult, journey_map: JourneyMap) -> list[Table]:
    """(touchpoint, kpi, value) rows -> one table per channel, a row per touchpoint, a column per measure."""
    values: dict[str, dict[str, Any]] = {}
    for touchpoint, kpi, value in result.rows:
        values.setdefault(touchpoint, {})[kpi] = value
    tables = []
    for channel in dict.fromkeys(t.channel for t in journey_map.touchpoints):
        rows = {t.label: values[t.id] for t in journey_map.touchpoints if t.channel == channel and t.id in values}
        if channel in values:  # channel-wide measures (e.g. store conversion)
            rows[f"{channel} (all)"] = values[channel]
        kpis = list(dict.fromkeys(k for row in rows.values() for k in row))
        table = Table(title=f"Touchpoint scorecard: {channel.replace('_', ' ')}", title_justify="left")
        table.add_column("touchpoint")
        for kpi in kpis:
            table.add_column(kpi.replace("_", " "), justify="right")
        for label, row in rows.items():
            table.add_row(label, *(fmt(k, row.get(k)) for k in kpis))
        tables.append(table)
    return tables


def fmt(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if any(hint in column for hint in RATIO_HINTS) and 0 <= value <= 1:
            return f"{value:.0%}"
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
