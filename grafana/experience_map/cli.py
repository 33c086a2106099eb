"""The `journeys map` command: draw the experience map from the warehouse into a file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from grafana.experience_map.service import MapRequest, draw, write


def _moment(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


DATE = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])


@click.command("map")
@click.option("--segment", default=None, help="Only journeys of this segment (persona); default all.")
@click.option("--from", "start", type=DATE, default=None, help="Period start (UTC, inclusive).")
@click.option("--to", "end", type=DATE, default=None, help="Period end (UTC, exclusive).")
@click.option("--compare-from", "compare_start", type=DATE, default=None, help="Baseline period start.")
@click.option("--compare-to", "compare_end", type=DATE, default=None, help="Baseline period end.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file: .html (self-contained page), .svg or .png.")
@click.pass_context
def map_command(ctx: click.Context, segment: str | None, start: datetime | None, end: datetime | None,
                compare_start: datetime | None, compare_end: datetime | None, out: Path) -> None:
    """Draw the experience map (phases x touchpoints, emotion curve, moments of truth)."""
    from journeys.cli import settings_of

    request = MapRequest(segment=segment, start=_moment(start), end=_moment(end),
                         compare_start=_moment(compare_start), compare_end=_moment(compare_end))
    experience_map, comparison = draw(settings_of(ctx), request)
    write(out, experience_map, comparison)
    click.echo(f"{out}: {len(experience_map.cells)} cells, {experience_map.customers} customers"
               + (", compared with a baseline period" if comparison else ""))


def register(main: click.Group) -> None:
    """Add `journeys map` to the `journeys` group."""
    main.add_command(map_command)
