"""The demo's closing report: the funnel, the top friction points and the touchpoint scorecard.

Read through the named queries (clickhouse.queries), so the numbers are the ones analysts and the
dashboards see; laid out for a terminal: every table fits the width it is given (100 columns is
the target), the scorecard pivoted to one row per touchpoint when that fits and otherwise listed
vertically (touchpoint, measure, value), durations in the units a person reads (s, min, h).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from clickhouse.client import connect
from clickhouse.queries import Filters, QueryResult, run
from foundation.settings import Settings
from journeys.tables import duration
from schemas.journeymap import JourneyMap

TOP_FRICTION = 10
REPORT_WIDTH = 100  # the widest the report may be, whatever the terminal
RATIO_HINTS = ("share", "rate", "from_previous", "conversion", "resolution")
# Short column headers for the scorecard's measures (the named query's kpi names are long).
KPI_LABELS = {"avg_time_on_page_s": "time on page", "avg_navigation_ease": "nav. ease", "online_sales": "sales",
              "avg_wait_s": "wait", "transfer_rate": "transfers", "first_contact_resolution": "1st-contact fix",
              "avg_response_s": "response", "avg_queue_wait_s": "queue", "store_visits": "visits",
              "store_purchases": "purchases", "store_conversion": "conversion", "csat_avg": "CSAT",
              "csat_responses": "CSAT n", "nps_responses": "NPS n", "avg_hours_to_convert": "hours to convert"}


def print_report(console: Console, settings: Settings, journey_map: JourneyMap) -> dict[str, int]:
    """Print the three tables; returns their row counts (a demo with an empty table has failed)."""
    client = connect(settings)
    try:
        phases = journey_map.phase_ids
        funnel = run(client, "funnel", Filters(), phases)
        friction = run(client, "friction_top", Filters(limit=TOP_FRICTION), phases)
        scorecard = run(client, "touchpoint_scorecard", Filters(), phases)
    finally:
        client.close()
    width = min(console.width, REPORT_WIDTH)
    console.print(as_table("Journey funnel (journeys reaching each phase or beyond)", funnel), width=width)
    console.print(as_table(f"Top {TOP_FRICTION} friction points", friction), width=width)
    for table in pivot_scorecard(scorecard, journey_map, width):
        console.print(table, width=width)
    return {"funnel": len(funnel.rows), "friction": len(friction.rows), "scorecard": len(scorecard.rows)}


def as_table(title: str, result: QueryResult) -> Table:
    table = Table(title=title, title_justify="left")
    for column in result.columns:
        table.add_column(label(column), justify="left" if column in ("phase", "touchpoint", "rule") else "right")
    for row in result.rows:
        table.add_row(*(fmt(column, value) for column, value in zip(result.columns, row, strict=True)))
    return table


def pivot_scorecard(result: QueryResult, journey_map: JourneyMap, width: int = REPORT_WIDTH) -> list[Table]:
    """(touchpoint, kpi, value) rows -> one table per channel: a row per touchpoint and a column per
    measure when that fits `width`, else a row per (touchpoint, measure)."""
    values: dict[str, dict[str, Any]] = {}
    for touchpoint, kpi, value in result.rows:
        values.setdefault(touchpoint, {})[kpi] = value
    tables = []
    for channel in dict.fromkeys(t.channel for t in journey_map.touchpoints):
        rows = {t.label: values[t.id] for t in journey_map.touchpoints if t.channel == channel and t.id in values}
        if channel in values:  # channel-wide measures (e.g. store conversion)
            rows[f"{channel} (all)"] = values[channel]
        title = f"Touchpoint scorecard: {channel.replace('_', ' ')}"
        wide = _wide(title, rows)
        tables.append(wide if natural_width(wide) <= width else _vertical(title, rows))
    return tables


def _wide(title: str, rows: dict[str, dict[str, Any]]) -> Table:
    kpis = list(dict.fromkeys(k for row in rows.values() for k in row))
    table = Table(title=title, title_justify="left")
    table.add_column("touchpoint")
    for kpi in kpis:
        table.add_column(label(kpi), justify="right")
    for name, row in rows.items():
        table.add_row(name, *(fmt(k, row.get(k)) for k in kpis))
    return table


def _vertical(title: str, rows: dict[str, dict[str, Any]]) -> Table:
    table = Table("touchpoint", "measure", "value", title=title, title_justify="left")
    table.columns[2].justify = "right"
    for name, row in rows.items():
        for i, (kpi, value) in enumerate(row.items()):
            table.add_row(name if i == 0 else "", label(kpi), fmt(kpi, value), end_section=i == len(row) - 1)
    return table


def natural_width(table: Table) -> int:
    """The columns a table needs without wrapping any cell."""
    console = Console(width=10_000)
    return Measurement.get(console, console.options, table).maximum


def label(column: str) -> str:
    return KPI_LABELS.get(column, column.replace("_", " "))


def fmt(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int) and not isinstance(value, bool) and column.endswith("_s"):
        return duration(float(value))
    if isinstance(value, float):
        if any(hint in column for hint in RATIO_HINTS) and 0 <= value <= 1:
            return f"{value:.0%}"
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
