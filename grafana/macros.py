"""Grafana stage: the ClickHouse plugin's query expansion, reproduced exactly, as pure functions.

A panel query reaches ClickHouse only after two rewrites: the browser applies
`$__conditionalAll(...)` and the dashboard variables (see `grafana.templating`), then the plugin
backend expands its `$__name(...)` macros (grafana-clickhouse-datasource `pkg/macros/macros.go`,
parsed by grafana-plugin-sdk-go `data/sqlutil/macros.go`). Alert rules skip the browser step.
`journeys grafana check` and the tests use these functions to run every panel's SQL on a real
warehouse exactly as Grafana would send it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from grafana.templating import VariableState, apply_conditional_all, interpolate_variables
from schemas.errors import MacroError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_ALERT_INTERVAL_MS = 1000  # Grafana alerting's intervalMs when a rule does not set one


@dataclass(frozen=True)
class QueryContext:
    """What the backend knows when it expands a query: the time range and the panel interval."""

    start: datetime
    end: datetime
    interval_ms: int = DEFAULT_ALERT_INTERVAL_MS
    table: str = ""
    column: str = ""


MacroFunc = Callable[[QueryContext, list[str]], str]


def _unix_s(t: datetime) -> int:
    return (t - EPOCH) // timedelta(seconds=1)  # Go t.Unix(): floored seconds


def _unix_ms(t: datetime) -> int:
    return (t - EPOCH) // timedelta(milliseconds=1)


def time_to_date(t: datetime) -> str:
    return f"toDate('{t.astimezone(UTC).strftime('%Y-%m-%d')}')"


def time_to_datetime(t: datetime) -> str:
    return f"toDateTime({_unix_s(t)})"


def time_to_datetime64(t: datetime) -> str:
    return f"fromUnixTimestamp64Milli({_unix_ms(t)})"


def _one_arg(name: str, args: list[str], count: int = 1) -> list[str]:
    if len(args) != count:
        raise MacroError(name, f"unexpected number of arguments: expected {count} argument, received {len(args)}")
    return args


def _between(name: str, convert: Callable[[datetime], str]) -> MacroFunc:
    def macro(ctx: QueryContext, args: list[str]) -> str:
        (col,) = _one_arg(name, args)
        return f"{col} >= {convert(ctx.start)} AND {col} <= {convert(ctx.end)}"
    return macro


def _date_time_filter(ctx: QueryContext, args: list[str]) -> str:
    date_col, time_col = _one_arg("dateTimeFilter", args, 2)
    dates = _between("dateTimeFilter", time_to_date)(ctx, [date_col])
    times = _between("dateTimeFilter", time_to_datetime)(ctx, [time_col])
    return f"({dates}) AND ({times})"


def _interval_s(ctx: QueryContext) -> int:
    return int(max(ctx.interval_ms / 1000, 1))


def _time_interval(ctx: QueryContext, args: list[str]) -> str:
    (col,) = _one_arg("timeInterval", args)
    return f"toStartOfInterval(toDateTime({col}), INTERVAL {_interval_s(ctx)} second)"


def _time_interval_ms(ctx: QueryContext, args: list[str]) -> str:
    (col,) = _one_arg("timeInterval_ms", args)
    return f"toStartOfInterval(toDateTime64({col}, 3), INTERVAL {max(ctx.interval_ms, 1)} millisecond)"


def format_interval(ms: int) -> str:
    """Grafana's gtime.FormatInterval: the largest whole unit (`20s`, `5m`, `1d`)."""
    for unit, size_ms in (("y", 365 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000),
                          ("m", 60_000), ("s", 1000), ("ms", 1)):
        if ms >= size_ms:
            return f"{ms // size_ms}{unit}"
    return "1ms"


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The plugin's registry (pkg/macros/macros.go) over the SDK defaults it does not override.
# `$__timeGroup` is left out on purpose: its SDK default emits SQL-Server `datepart`, invalid here.
MACROS: Mapping[str, MacroFunc] = {
    "interval": lambda ctx, _: format_interval(ctx.interval_ms),
    "interval_ms": lambda ctx, _: str(ctx.interval_ms),
    "timeFrom": lambda ctx, a: f"{_one_arg('timeFrom', a)[0]} >= '{_rfc3339(ctx.start)}'",
    "timeTo": lambda ctx, a: f"{_one_arg('timeTo', a)[0]} <= '{_rfc3339(ctx.end)}'",
    "table": lambda ctx, _: ctx.table,
    "column": lambda ctx, _: ctx.column,
    "fromTime": lambda ctx, _: time_to_datetime(ctx.start),
    "toTime": lambda ctx, _: time_to_datetime(ctx.end),
    "fromTime_ms": lambda ctx, _: time_to_datetime64(ctx.start),
    "toTime_ms": lambda ctx, _: time_to_datetime64(ctx.end),
    "timeFilter": _between("timeFilter", time_to_datetime),
    "timeFilter_ms": _between("timeFilter_ms", time_to_datetime64),
    "dateFilter": _between("dateFilter", time_to_date),
    "dateTimeFilter": _date_time_filter,
    "dt": _date_time_filter,
    "timeInterval": _time_interval,
    "timeInterval_ms": _time_interval_ms,
    "interval_s": lambda ctx, _: str(_interval_s(ctx)),
}


def parse_args(text: str) -> tuple[list[str], int]:
    """The SDK's parseArgs: arguments of a `(...)` right at the start, split at depth-1 commas."""
    if not text.startswith("("):
        return [], 0
    args: list[str] = []
    depth, current = 0, ""
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
            if depth == 1:
                continue
        elif char == ")":
            depth -= 1
            if depth == 0:
                return [*args, current.strip()], i + 1
        elif char == "," and depth == 1:
            args.append(current.strip())
            current = ""
            continue
        current += char
    return [], -1


def _matches(sql: str, name: str) -> list[tuple[str, list[str]]]:
    found = []
    for match in re.finditer(rf"\$__{re.escape(name)}\b", sql):
        args, length = parse_args(sql[match.end():])
        if length < 0:
            raise MacroError(name, "failed to parse macro arguments (missing close bracket?)")
        found.append((sql[match.start():match.end() + length], args))
    return found


def expand_macros(sql: str, ctx: QueryContext) -> str:
    """The backend step (sqlutil.Interpolate): longest macro names first, each match replaced everywhere."""
    for name in sorted(MACROS, key=lambda n: (-len(n), n)):
        for full, args in _matches(sql, name):
            sql = sql.replace(full, MACROS[name](ctx, args))
    return sql


def expand_panel_query(sql: str, variables: Mapping[str, VariableState], ctx: QueryContext) -> str:
    """What ClickHouse receives for a dashboard panel: browser rewrites, then backend macros."""
    sql = apply_conditional_all(sql, variables)
    sql = interpolate_variables(sql, variables, builtins(ctx))
    return expand_macros(sql, ctx)


def expand_alert_query(sql: str, ctx: QueryContext) -> str:
    """What ClickHouse receives for an alert rule: no browser, so only backend macros."""
    return expand_macros(sql, ctx)


def builtins(ctx: QueryContext) -> dict[str, str]:
    """Grafana's global variables the browser replaces before the plugin sees the query."""
    return {
        "__from": str(_unix_ms(ctx.start)),
        "__to": str(_unix_ms(ctx.end)),
        "__interval": format_interval(ctx.interval_ms),
        "__interval_ms": str(ctx.interval_ms),
    }
