"""Commands of the analyses: `journeys funnel`, `paths`, `conformance`, `incidents` and `explain`.

Thin entry points over clickhouse/analyses: they check the options against the journey map
(steps' touchpoints, dimensions), bind them, run the analysis and print it as a table, CSV or JSON
(journeys/tables.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from clickhouse.analyses.named import Extra, run_analysis
from clickhouse.client import WarehouseBusyError, connect
from clickhouse.queries import EARLIEST, LATEST, Filters, check_window
from journeys.analysis_reads import (
    AnalysisRequestError,
    ExplainRequest,
    analysis_params,
    check_breakdown,
    check_step,
    explained,
)
from journeys.commands.options import dimension_filter, journey_map_of, settings_of, utc
from journeys.incident_reads import IncidentOptions, IncidentRequestError, duration_s, run_incidents
from journeys.readclient import ask
from journeys.tables import FORMATS, render
from schemas.journeymap import JourneyMap


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option("--from", "start", type=click.DateTime(), help="Window start (UTC), inclusive."),
        click.option("--to", "end", type=click.DateTime(), help="Window end (UTC), exclusive."),
        click.option("--channel", default="", help="Only this channel."),
        click.option("--segment", default="", help="Only this segment (persona)."),
        click.option("--where", default="", metavar="DIM=VALUE", help="Only journeys with this dimension value."),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True),
        click.pass_context,
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("funnel")
@click.option("--step", "steps", multiple=True, required=True, metavar="STEP",
              help="An ordered step: touchpoint:event_type, touchpoint, :event_type or phase:NAME (2 to 8).")
@click.option("--within", default="1d", show_default=True, help="Conversion window from the first step: 30m, 2h, 1d, 1w.")
@click.option("--order", type=click.Choice(("any", "strict")), default="any", show_default=True,
              help="strict: no other event of the journey between two steps.")
@click.option("--period", type=click.Choice(("hour", "day", "week", "month")), default="week", show_default=True)
@click.option("--by", default="", metavar="DIM", help="Break down by a context dimension, channel or segment.")
@_common
def funnel_command(ctx: click.Context, steps: tuple[str, ...], within: str, order: str, period: str, by: str,
                   **common: Any) -> None:
    """Step funnel per period: journeys reaching each step in order within the window, vs the previous period."""
    journey_map = journey_map_of(ctx)
    for step in steps:
        _check_step(step, journey_map)
    if not 2 <= len(steps) <= 8:
        raise click.UsageError(f"a funnel needs 2 to 8 --step options (got {len(steps)})")
    extra = Extra(steps=steps, within_s=_seconds(within), period=period, by=_breakdown(by, journey_map))
    _run(ctx, "step_funnel_strict" if order == "strict" else "step_funnel", extra, common)


@click.command("paths")
@click.option("--from-step", default="", metavar="STEP", help="Transitions after this step (default: journey start).")
@click.option("--to-step", default="", metavar="STEP", help="Transitions leading to this step.")
@click.option("--depth", default=3, show_default=True, type=click.IntRange(1, 20), help="Transitions deep.")
@click.option("--loops", is_flag=True, help="Count loops A -> B -> A instead (around --from-step, if given).")
@click.option("--by", default="", metavar="DIM", help="Break down by a context dimension, channel or segment.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100_000), help="Rows per position.")
@_common
def paths_command(ctx: click.Context, from_step: str, to_step: str, depth: int, loops: bool, by: str, limit: int,
                  **common: Any) -> None:
    """Paths: transitions between steps with counts, shares and median time between; or loops."""
    if from_step and to_step:
        raise click.UsageError("give --from-step or --to-step, not both")
    extra = Extra(anchor=from_step or to_step, direction="to" if to_step else "from", depth=depth,
                  by=_breakdown(by, journey_map_of(ctx)))
    _run(ctx, "loops" if loops else "paths", extra, common, limit)


@click.command("conformance")
@click.option("--max-stay", "stays", multiple=True, metavar="PHASE=DURATION",
              help="The longest stay the design allows in a phase, e.g. research=2d (repeatable; default: no limit).")
@_common
def conformance_command(ctx: click.Context, stays: tuple[str, ...], **common: Any) -> None:
    """Conformance: per touchpoint, journeys that go back a phase, skip one, or stay longer than allowed."""
    journey_map = journey_map_of(ctx)
    limits = dict(_stay(text, journey_map) for text in stays)
    extra = Extra(phases=journey_map.phase_ids,
                  max_phase_s=tuple(limits.get(phase, 0) for phase in journey_map.phase_ids) if limits else ())
    _run(ctx, "conformance", extra, common, 100)


def _stay(text: str, journey_map: JourneyMap) -> tuple[str, int]:
    phase, _, duration = text.partition("=")
    if phase not in journey_map.phase_ids:
        raise click.UsageError(f"--max-stay {text!r}: no phase {phase!r} (phases: {', '.join(journey_map.phase_ids)})")
    return phase, _seconds(duration, "--max-stay")


@click.command("incidents")
@click.option("--period", default="week", show_default=True,
              help="hour, day or week; with --last also a duration (30m, 6h): periods ending at the newest event.")
@click.option("--by", "dims", multiple=True, metavar="DIM",
              help="Dimensions to look for incidents in (default: all the journey map declares).")
@click.option("--what", "families", default="step,friction", show_default=True,
              help="Cells to test, comma-separated: step, friction, volume.")
@click.option("--baseline", "baseline_periods", default=4, show_default=True, type=click.IntRange(1, 52),
              help="Trailing periods the baseline pools.")
@click.option("--seasonal", is_flag=True,
              help="Baseline of the same weekday (--period day) or hour of the week (--period hour).")
@click.option("--z", "z", default=4.0, show_default=True, type=click.FloatRange(1.0), help="|z| to flag a period.")
@click.option("--min-count", default=5, show_default=True, type=click.IntRange(1), help="Fewest events to flag.")
@click.option("--last", default="", metavar="DURATION",
              help="The window is the last DURATION of the data (12h, 2d), up to its newest event: live use.")
@_common
def incidents_command(ctx: click.Context, period: str, dims: tuple[str, ...], families: str, baseline_periods: int,
                      seasonal: bool, z: float, min_count: int, last: str, **common: Any) -> None:
    """Incidents: cells worse (or better) than their baseline of trailing periods, joined over periods."""
    journey_map = journey_map_of(ctx)
    options = IncidentOptions(
        start=utc(common["start"]), end=utc(common["end"]), last_s=_seconds(last, "--last") if last else 0,
        period=period, dims=dims, families=tuple(f.strip() for f in families.split(",") if f.strip()),
        baseline_periods=baseline_periods, seasonal=seasonal, z=z, min_count=min_count, channel=common["channel"],
        segment=common["segment"], where=common["where"])
    try:
        options.check(journey_map)
        client = connect(settings_of(ctx))
    except IncidentRequestError as err:
        raise click.UsageError(str(err)) from None
    except WarehouseBusyError as busy:  # a running pipeline holds it: ask that process
        result = ask(settings_of(ctx), "/v1/incidents", options.as_params(), busy)
    else:
        result = run_incidents(client, options, journey_map)
    click.echo(render(result, common["fmt"]), nl=False)


@click.command("explain")
@click.option("--baseline-from", type=click.DateTime(), help="Baseline start (default: as long before --from).")
@click.option("--baseline-to", type=click.DateTime(), help="Baseline end (default: --from).")
@click.option("--by", "dims", multiple=True, metavar="DIM",
              help="Dimensions whose values may explain the change (default: all the journey map declares).")
@click.option("--z", "z", default=3.0, show_default=True, type=click.FloatRange(1.0),
              help="|z| of everyone's change for a cell to be explained.")
@_common
def explain_command(ctx: click.Context, baseline_from: datetime | None, baseline_to: datetime | None,
                    dims: tuple[str, ...], z: float, **common: Any) -> None:
    """What explains a change: per changed step share or friction rate, each dimension value's part of it."""
    if common["start"] is None or common["end"] is None:
        raise click.UsageError("explain needs --from and --to (the window to explain)")
    journey_map = journey_map_of(ctx)
    for dim in dims:
        _breakdown(dim, journey_map, context_only=True)
    filters = _filters(common, journey_map)
    check_window(filters.start, filters.end, *(m for m in (utc(baseline_from), utc(baseline_to)) if m))
    base_end = utc(baseline_to) or filters.start
    request = ExplainRequest(filters, utc(baseline_from) or base_end - (filters.end - filters.start), base_end, dims, z)
    try:
        request.check(journey_map)
        result = explained(connect(settings_of(ctx)), request, journey_map)
    except AnalysisRequestError as err:
        raise click.UsageError(str(err).replace("ending at or before from", "ending at or before --from")) from None
    except WarehouseBusyError as busy:  # a running pipeline holds it: ask that process
        result = ask(settings_of(ctx), "/v1/explain", request.params(), busy)
    click.echo(render(result, common["fmt"]), nl=False)


def _run(ctx: click.Context, name: str, extra: Extra, common: dict[str, Any], limit: int = 20) -> None:
    filters = _filters(common, journey_map_of(ctx), limit)
    try:
        extra.check()
        result = run_analysis(connect(settings_of(ctx)), name, filters, extra)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    except WarehouseBusyError as busy:  # a running pipeline holds it: ask that process
        result = ask(settings_of(ctx), f"/v1/analyses/{name}", analysis_params(filters, extra), busy)
    click.echo(render(result, common["fmt"]), nl=False)


def _filters(common: dict[str, Any], journey_map: JourneyMap, limit: int = 20) -> Filters:
    where_dim, where_value = dimension_filter(common["where"], journey_map.dimension_names)
    start, end = utc(common["start"]) or EARLIEST, utc(common["end"]) or LATEST
    return Filters(start=start, end=end, channel=common["channel"], segment=common["segment"],
                   where_dim=where_dim, where_value=where_value, limit=limit)


def _breakdown(by: str, journey_map: JourneyMap, context_only: bool = False) -> str:
    try:
        return check_breakdown(by, journey_map, "--by", context_only)
    except AnalysisRequestError as err:
        raise click.UsageError(str(err)) from None


def _check_step(step: str, journey_map: JourneyMap) -> None:
    try:
        check_step(step, journey_map, "--step")
    except AnalysisRequestError as err:
        raise click.UsageError(str(err)) from None


def _seconds(text: str, option: str = "--within") -> int:
    seconds = duration_s(text)
    if not seconds:
        raise click.UsageError(f"{option} takes a positive duration such as 30m, 2h, 1d or 1w (got {text!r})")
    return seconds
