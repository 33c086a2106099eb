"""What every area of commands shares: the settings from the click context, and option checks.

`journeys/cli.py` reads the settings once and stores them in the context; commands take them from
there. The checks of `--where DIM=VALUE` and `--by DIM` against the journey map live here once, so
`query`, the analyses and `map` word their usage errors alike.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from clickhouse.queries import split_where
from foundation.settings import Settings
from schemas.journeymap import JourneyMap, load_journey_map


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    assert settings is not None, "main() stores the settings in the context"
    return settings


def journey_map_of(ctx: click.Context) -> JourneyMap:
    return load_journey_map(settings_of(ctx).journey_map)


def utc(moment: datetime | None) -> datetime | None:
    """A moment given without a time zone is UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def dimension_filter(where: str, declared: tuple[str, ...]) -> tuple[str, str]:
    """`--where DIM=VALUE` -> (DIM, VALUE), DIM checked against the journey map's dimensions."""
    if not where:
        return "", ""
    dim, value = split_where(where)
    if not value:
        raise click.UsageError(f"--where takes DIM=VALUE, e.g. device_type=mobile (got {where!r})")
    check_dimension("--where", dim, declared)
    return dim, value


def check_dimension(option: str, dim: str, declared: tuple[str, ...]) -> None:
    if dim not in declared:
        raise click.UsageError(f"{option}: {dim!r} is not a dimension of the journey map "
                               f"(declared: {', '.join(declared) or 'none'})")
