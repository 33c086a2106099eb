"""Commands of the clickhouse stage: `journeys migrate`, `journeys sink`, `journeys query`.

Thin entry points: they read the settings from the click context, open the warehouse through
clickhouse/client.py and call the stage's functions; formatting of query results lives here
(tables laid out for the terminal, durations in s/min/h). When a running pipeline holds the
embedded warehouse, `journeys query` asks that process instead (journeys/reads.py).
"""

from __future__ import annotations

import csv
import io
import shutil
from datetime import UTC, datetime
from typing import Any

import click

from clickhouse.client import WarehouseBusyError
from clickhouse.queries import EARLIEST, LATEST, QUERIES, Filters, QueryResult, named_query, split_where
from foundation.settings import Settings
from schemas.errors import WarehouseError

FORMATS = ("table", "csv", "json")
TABLE_WIDTH = 100  # off a terminal (pipes, logs): tables are laid out for 100 columns
MINUTE_S, HOUR_S, DAY_S = 60.0, 3600.0, 86400.0
OPTION_NAMES = {"start": "from", "end": "to"}


def register(main: click.Group) -> None:
    """Add this stage's commands to `journeys`."""
    main.add_command(migrate_command)
    main.add_command(sink_command)
    main.add_command(query_command)
    from clickhouse.analyses.cli import register as register_analyses  # funnel, paths, incidents

    register_analyses(main)


@click.command("migrate")
@click.pass_context
def migrate_command(ctx: click.Context) -> None:
    """Create or upgrade the warehouse tables (safe to re-run)."""
    from clickhouse.client import connect
    from clickhouse.migrate import migrate
    from journeys.cli import settings_of

    settings = settings_of(ctx)
    applied = migrate(connect(settings), settings.clickhouse.ttl_days)
    click.echo(f"applied {', '.join(applied)}" if applied else "warehouse is up to date")


@click.command("sink")
@click.option("--loglevel", default="info", show_default=True, help="Faust worker log level.")
@click.pass_context
def sink_command(ctx: click.Context, loglevel: str) -> None:
    """Run the warehouse sink alone: output topics -> ClickHouse, until stopped."""
    import faust

    from clickhouse.agents import sink_app
    from clickhouse.client import connect
    from clickhouse.migrate import migrate
    from foundation.kafka import ensure_topics
    from journeys.cli import settings_of

    settings = settings_of(ctx)
    ensure_topics(settings)
    client = connect(settings)
    migrate(client, settings.clickhouse.ttl_days)
    client.close()
    app, _ = sink_app(settings)
    from journeys.reads import attach_reads  # the sink owns the embedded warehouse: it answers reads too

    attach_reads(app, settings)
    faust.Worker(app, loglevel=loglevel).execute_from_commandline()


@click.command("query")
@click.argument("name", required=False)
@click.option("--list", "list_queries", is_flag=True, help="List the named queries and their filters.")
@click.option("--from", "start", type=click.DateTime(), help="Window start (UTC), inclusive.")
@click.option("--to", "end", type=click.DateTime(), help="Window end (UTC), exclusive.")
@click.option("--channel", default="", help="Only this channel.")
@click.option("--segment", default="", help="Only this segment (persona).")
@click.option("--touchpoint", default="", help="Only this touchpoint.")
@click.option("--where", "where", default="", metavar="DIM=VALUE",
              help="Only what carried this context dimension value, e.g. device_type=mobile.")
@click.option("--by", "by", default="", metavar="DIM", help="Break down by a context dimension (funnel, friction_top).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def query_command(ctx: click.Context, name: str | None, list_queries: bool, start: datetime | None,
                  end: datetime | None, channel: str, segment: str, touchpoint: str, where: str, by: str,
                  limit: int, fmt: str) -> None:
    """Run the named analytical query NAME (see --list)."""
    if list_queries or not name:
        _list()
        return
    from clickhouse.client import connect
    from clickhouse.queries import run
    from journeys.cli import settings_of
    from schemas.journeymap import load_journey_map

    settings = settings_of(ctx)
    journey_map = load_journey_map(settings.journey_map)
    if by:
        name = _by_dimension_query(name)
    query = named_query(name)
    where_dim, where_value = _dimension_filter(where, journey_map.dimension_names)
    if by:
        _check_dimension("--by", by, journey_map.dimension_names)
    elif name.endswith("_by_dimension"):
        raise click.UsageError(f"{name} needs --by DIM (declared: {', '.join(journey_map.dimension_names)})")
    given = {"channel": channel, "segment": segment, "touchpoint": touchpoint, "where": where}
    unused = [f"--{k}" for k, v in given.items() if v and k not in query.filters]
    if unused:
        raise click.UsageError(f"{name} does not take {', '.join(unused)} (filters: {', '.join('--' + OPTION_NAMES.get(f, f) for f in query.filters)})")
    filters = Filters(start=_utc(start) or EARLIEST, end=_utc(end) or LATEST, channel=channel, segment=segment,
                      touchpoint=touchpoint, where_dim=where_dim, where_value=where_value, dim=by, limit=limit)
    try:
        client = connect(settings)
    except WarehouseBusyError as busy:  # a running pipeline holds it: ask that process
        result = ask_running_pipeline(settings, name, filters, busy)
    else:
        result = run(client, name, filters, journey_map.phase_ids)
    click.echo(render(result, fmt), nl=False)


def ask_running_pipeline(settings: Settings, name: str, filters: Filters, busy: WarehouseBusyError) -> QueryResult:
    """The named query, answered by the process holding the embedded warehouse (journeys/reads.py)."""
    import orjson

    from journeys.readclient import get, served_url

    url = served_url(settings)
    if url is None:
        raise WarehouseError(f"{busy}; it serves no read endpoint (JOURNEYS_READS__ENABLED is off, or it is older)")
    params = {"from": _given(filters.start, EARLIEST), "to": _given(filters.end, LATEST), "channel": filters.channel,
              "segment": filters.segment, "touchpoint": filters.touchpoint, "limit": filters.limit,
              "where": f"{filters.where_dim}={filters.where_value}" if filters.where_dim else None,
              "by": filters.dim or None}
    answer = orjson.loads(get(settings, url, f"/v1/query/{name}", params))
    return QueryResult(tuple(answer["columns"]), [tuple(row) for row in answer["rows"]])


def _given(moment: datetime, default: datetime) -> str | None:
    return None if moment == default else moment.isoformat()


def _by_dimension_query(name: str) -> str:
    from clickhouse.queries import BY_DIMENSION

    if name in BY_DIMENSION.values():
        return name
    if name not in BY_DIMENSION:
        raise click.UsageError(f"{name} does not take --by (queries that do: {', '.join(BY_DIMENSION)})")
    return BY_DIMENSION[name]


def _dimension_filter(where: str, declared: tuple[str, ...]) -> tuple[str, str]:
    """`--where DIM=VALUE` -> (DIM, VALUE), DIM checked against the journey map's dimensions."""
    if not where:
        return "", ""
    dim, value = split_where(where)
    if not value:
        raise click.UsageError(f"--where takes DIM=VALUE, e.g. device_type=mobile (got {where!r})")
    _check_dimension("--where", dim, declared)
    return dim, value


def _check_dimension(option: str, dim: str, declared: tuple[str, ...]) -> None:
    if dim not in declared:
        raise click.UsageError(f"{option}: {dim!r} is not a dimension of the journey map "
                               f"(declared: {', '.join(declared) or 'none'})")


def _list() -> None:
    for query in QUERIES.values():
        options = ", ".join("--" + OPTION_NAMES.get(f, f) for f in query.filters)
        click.echo(f"{query.name}\n  {query.description}\n  filters: {options}\n")


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def render(result: QueryResult, fmt: str) -> str:
    """A query result as a rich table, CSV or JSON text."""
    if fmt == "json":
        import orjson

        return orjson.dumps(result.as_dicts(), default=str, option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(result.rows)
        return out.getvalue()
    return _table(result)


def _table(result: QueryResult) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

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
