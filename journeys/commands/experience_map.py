"""The `journeys map` command: draw the experience map from the warehouse into a file.

While a running pipeline holds the embedded warehouse, the map is drawn by that process (its read
endpoint, journeys/reads.py) and saved here the same way.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from clickhouse.client import WarehouseBusyError, connect
from clickhouse.queries import split_where
from foundation.settings import Settings
from grafana.experience_map.model import Comparison, ExperienceMap
from grafana.experience_map.service import MapRequest, draw_from, write, write_document
from journeys.commands.options import settings_of, utc
from journeys.readclient import get, served_url
from schemas.errors import WarehouseError
from schemas.journeymap import load_journey_map

DATE = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])


@click.command("map")
@click.option("--segment", default=None, help="Only journeys of this segment (persona); default all.")
@click.option("--where", "where", default="", metavar="DIM=VALUE",
              help="Only what carried this context dimension value, e.g. device_type=mobile.")
@click.option("--from", "start", type=DATE, default=None, help="Period start (UTC, inclusive).")
@click.option("--to", "end", type=DATE, default=None, help="Period end (UTC, exclusive).")
@click.option("--compare-from", "compare_start", type=DATE, default=None, help="Baseline period start.")
@click.option("--compare-to", "compare_end", type=DATE, default=None, help="Baseline period end.")
@click.option("--paths-from", "paths_from", default="", metavar="STEP",
              help="The paths under the map start at this step (touchpoint:event_type, a touchpoint or "
                   ":event_type); default each journey's start.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file: .html (self-contained page), .svg or .png.")
@click.pass_context
def map_command(ctx: click.Context, segment: str | None, where: str, start: datetime | None, end: datetime | None,
                compare_start: datetime | None, compare_end: datetime | None, paths_from: str, out: Path) -> None:
    """Draw the experience map (phases x touchpoints, emotion curve, moments of truth)."""
    settings = settings_of(ctx)
    request = MapRequest(segment=segment, start=utc(start), end=utc(end), where=_where(settings, where),
                         compare_start=utc(compare_start), compare_end=utc(compare_end), paths_from=paths_from)
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
    url = served_url(settings)
    if url is None:
        raise WarehouseError(f"{busy}; it serves no read endpoint (JOURNEYS_READS__ENABLED is off, or it is older)")
    moments = {"from": request.start, "to": request.end, "compare_from": request.compare_start,
               "compare_to": request.compare_end}
    params = {k: v.isoformat() for k, v in moments.items() if v is not None} | {"segment": request.segment or "",
                                                                                 "paths_from": request.paths_from}
    if request.where:
        params["where"] = "=".join(request.where)
    fmt = "svg" if out.suffix.lower() == ".svg" else "html"
    write_document(out, get(settings, url, "/v1/map/document", params | {"format": fmt}).decode())
    return url


def _where(settings: Settings, where: str) -> tuple[str, str] | None:
    """`--where DIM=VALUE`, the dimension checked against the journey map's."""
    if not where:
        return None
    dim, value = split_where(where)
    declared = load_journey_map(settings.journey_map).dimension_names
    if not value or dim not in declared:
        raise click.UsageError(f"--where takes DIM=VALUE with DIM one of {', '.join(declared)} (got {where!r})")
    return dim, value


def draw(settings: Settings, request: MapRequest) -> tuple[ExperienceMap, Comparison | None]:
    """The map of the requested window, and its comparison with the baseline window if one is asked."""
    journey_map = load_journey_map(settings.journey_map)
    client = connect(settings)
    try:
        return draw_from(client, journey_map, request)
    finally:
        client.close()
