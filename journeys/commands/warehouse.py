"""Commands on the warehouse: `journeys migrate` and `journeys query`.

Thin entry points: they read the settings from the click context, open the warehouse through
clickhouse/client.py and call the stage's functions; results are laid out by journeys/tables.py.
When a running pipeline holds the embedded warehouse, `journeys query` asks that process instead
(journeys/reads.py).
"""

from __future__ import annotations

from datetime import datetime

import click

from clickhouse.client import WarehouseBusyError, connect
from clickhouse.migrate import migrate
from clickhouse.queries import BY_DIMENSION, EARLIEST, LATEST, QUERIES, Filters, QueryResult, named_query, run
from foundation.settings import Settings
from journeys.commands.options import check_dimension, dimension_filter, journey_map_of, settings_of, utc
from journeys.readclient import ask
from journeys.tables import FORMATS, render

OPTION_NAMES = {"start": "from", "end": "to"}


@click.command("migrate")
@click.pass_context
def migrate_command(ctx: click.Context) -> None:
    """Create or upgrade the warehouse tables (safe to re-run)."""
    settings = settings_of(ctx)
    applied = migrate(connect(settings), settings.clickhouse.ttl_days,
                      settle_after_s=settings.clickhouse.settle_after_s)
    click.echo(f"applied {', '.join(applied)}" if applied else "warehouse is up to date")


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
    settings, journey_map = settings_of(ctx), journey_map_of(ctx)
    if by:
        name = _by_dimension_query(name)
    query = named_query(name)
    where_dim, where_value = dimension_filter(where, journey_map.dimension_names)
    if by:
        check_dimension("--by", by, journey_map.dimension_names)
    elif name.endswith("_by_dimension"):
        raise click.UsageError(f"{name} needs --by DIM (declared: {', '.join(journey_map.dimension_names)})")
    given = {"channel": channel, "segment": segment, "touchpoint": touchpoint, "where": where}
    unused = [f"--{k}" for k, v in given.items() if v and k not in query.filters]
    if unused:
        raise click.UsageError(f"{name} does not take {', '.join(unused)} (filters: {', '.join('--' + OPTION_NAMES.get(f, f) for f in query.filters)})")
    filters = Filters(start=utc(start) or EARLIEST, end=utc(end) or LATEST, channel=channel, segment=segment,
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
    params = {"from": _given(filters.start, EARLIEST), "to": _given(filters.end, LATEST), "channel": filters.channel,
              "segment": filters.segment, "touchpoint": filters.touchpoint,
              "limit": filters.limit if "limit" in named_query(name).filters else None,
              "where": f"{filters.where_dim}={filters.where_value}" if filters.where_dim else None,
              "by": filters.dim or None}
    return ask(settings, f"/v1/query/{name}", params, busy)


def _given(moment: datetime, default: datetime) -> str | None:
    return None if moment == default else moment.isoformat()


def _by_dimension_query(name: str) -> str:
    if name in BY_DIMENSION.values():
        return name
    if name not in BY_DIMENSION:
        raise click.UsageError(f"{name} does not take --by (queries that do: {', '.join(BY_DIMENSION)})")
    return BY_DIMENSION[name]


def _list() -> None:
    for query in QUERIES.values():
        options = ", ".join("--" + OPTION_NAMES.get(f, f) for f in query.filters)
        click.echo(f"{query.name}\n  {query.description}\n  filters: {options}\n")
