"""The `journeys map` command: draw the experience map from the warehouse into a file.

While a running pipeline holds the embedded warehouse, the map is drawn by that process (its read
endpoint, journeys/reads.py) and saved here the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from foundation.settings import Settings
from grafana.experience_map.service import MapRequest, draw, write, write_document


def _moment(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


DATE = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])


@click.command("map")
@click.option("--segment", default=None, help="Only journeys of this segment (persona); default all.")
@click.option("--where", "where", default="", metavar="DIM=VALUE",
              help="Only what carried this context dimension value, e.g. device_type=mobile.")
@click.option("--from", "start", type=DATE, default=None, help="Period start (UTC, inclusive).")
@click.option("--to", "end", type=DATE, default=None, help="Period end (UTC, exclusive).")
@click.option("--compare-from", "compare_start", type=DATE, default=None, help="Baseline period start.")
@click.option("--compare-to", "compare_end", type=DATE, default=None, help="Baseline period end.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file: .html (self-contained page), .svg or .png.")
@click.pass_context
def map_command(ctx: click.Context, segment: str | None, where: str, start: datetime | None, end: datetime | None,
                compare_start: datetime | None, compare_end: datetime | None, out: Path) -> None:
    """Draw the experience map (phases x touchpoints, emotion curve, moments of truth)."""
    from clickhouse.client import WarehouseBusyError
    from journeys.cli import settings_of

    settings = settings_of(ctx)
    request = MapRequest(segment=segment, start=_moment(start), end=_moment(end), where=_where(settings, where),
                         compare_start=_moment(compare_start), compare_end=_moment(compare_end))
    try:
        experience_map, comparison = draw(settings, request)
    except WarehouseBusyError as busy:
        url = _ask_running_pipeline(settings, request, out, busy)
        click.echo(f"{out}: drawn by the running pipeline ({url}/map shows it live)")
        return
    write(out, experience_map, comparison)
    click.echo(f"{out}: {len(experience_map.cells)} cells, {experience_map.customers} customers"
               + (", compared with a baseline period" if comparison else ""))


def _ask_running_pipeline(settings: Settings, request: MapRequest, out: Path, busy: Exception) -> str:
    """The map document, drawn by the process holding the embedded warehouse; returns its address."""
    from journeys.readclient import get, served_url
    from schemas.errors import WarehouseError

    url = served_url(settings)
    if url is None:
        raise WarehouseError(f"{busy}; it serves no read endpoint (JOURNEYS_READS__ENABLED is off, or it is older)")
    moments = {"from": request.start, "to": request.end, "compare_from": request.compare_start,
               "compare_to": request.compare_end}
    params = {k: v.isoformat() for k, v in moments.items() if v is not None} | {"segment": request.segment or ""}
    if request.where:
        params["where"] = "=".join(request.where)
    fmt = "svg" if out.suffix.lower() == ".svg" else "html"
    write_document(out, get(settings, url, "/v1/map/document", params | {"format": fmt}).decode())
    return url


def _where(settings: Settings, where: str) -> tuple[str, str] | None:
    """`--where DIM=VALUE`, the dimension checked against the journey map's."""
    if not where:
        return None
    from clickhouse.queries import split_where
    from schemas.journeymap import load_journey_map

    dim, value = split_where(where)
    declared = load_journey_map(settings.journey_map).dimension_names
    if not value or dim not in declared:
        raise click.UsageError(f"--where takes DIM=VALUE with DIM one of {', '.join(declared)} (got {where!r})")
    return dim, value


def register(main: click.Group) -> None:
    """Add `journeys map` to the `journeys` group."""
    main.add_command(map_command)
