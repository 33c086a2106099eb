"""Query results laid out for a person: a table for the terminal, CSV or JSON; durations in s/min/h.

One layout for every place that prints a named query's or an analysis's result: `journeys query`,
the analyses' commands, the demo's report and the read endpoint's CSV answers.
"""

from __future__ import annotations

import csv
import io
import shutil
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from clickhouse.queries import QueryResult

FORMATS = ("table", "csv", "json")
TABLE_WIDTH = 100  # off a terminal (pipes, logs): tables are laid out for 100 columns
MINUTE_S, HOUR_S, DAY_S = 60.0, 3600.0, 86400.0


def render(result: QueryResult, fmt: str) -> str:
    """A query result as a rich table, CSV or JSON text."""
    if fmt == "json":
        return orjson.dumps(result.as_dicts(), default=str, option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(result.rows)
        return out.getvalue()
    return _table(result)


def _table(result: QueryResult) -> str:
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(Text(cell) for cell in _cells(result.columns, row)))  # values are data, never markup
    width = shutil.get_terminal_size((TABLE_WIDTH, 24)).columns
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _cells(columns: tuple[str, ...], row: tuple[Any, ...]) -> list[str]:
    """Values as text; a duration in seconds (a `*_s` column or kpi) in the unit a person reads."""
    named = dict(zip(columns, row, strict=True))
    in_seconds = {c for c in columns if c.endswith("_s")}
    if str(named.get("kpi", "")).endswith("_s"):
        in_seconds.add("value")
    return [duration(v) if c in in_seconds and isinstance(v, int | float) else _cell(v) for c, v in named.items()]


def duration(seconds: float) -> str:
    """Seconds in the unit a person reads: 45 s, 12.5 min, 10.1 h, 3.2 d."""
    for unit_s, unit in ((DAY_S, "d"), (HOUR_S, "h"), (MINUTE_S, "min")):
        if abs(seconds) >= 1.5 * unit_s:
            return f"{seconds / unit_s:,.1f} {unit}"
    return f"{seconds:,.0f} s" if abs(seconds) >= 10 else f"{seconds:.1f} s"


def _cell(value: Any) -> str:
    return "" if value is None else str(value)
