"""The `journeys simulate` command: seeded traffic through the producers stage.

Generates seeded omnichannel traffic (pure core), writes the ground truth if asked, and publishes
the deliveries through the producer library, paced or as fast as possible.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from foundation.kafka import ensure_topics
from journeys.commands.options import settings_of
from producers.publisher import Publisher
from producers.simulator.incidents import Scenario, ScenarioError, check_dimensions, load_scenario
from producers.simulator.parallel import ENCODE_CHUNK, SimulationArgs, simulated_in_child
from producers.simulator.run import RunSummary, chunk_size, publish_encoded
from producers.simulator.switch import Switch, switchable
from producers.simulator.switched_on import watch
from producers.simulator.truth import GroundTruth
from schemas.errors import ConfigError
from schemas.journeymap import JourneyMap, load_journey_map

DEFAULT_START = "2026-01-01"


def parse_start(value: str) -> datetime:
    """An ISO date or date-time; without a time zone it is UTC."""
    try:
        start = datetime.fromisoformat(value)
    except ValueError as err:
        raise ConfigError("--start", "start", f"not an ISO date: {value!r}") from err
    return start if start.tzinfo else start.replace(tzinfo=UTC)


@click.command("simulate")
@click.option("--customers", default=5000, show_default=True, type=click.IntRange(1), help="Simulated people.")
@click.option("--seed", default=42, show_default=True, help="Same seed, same traffic and ground truth.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Events per second (paced).")
@click.option("--as-fast-as-possible", "fast", is_flag=True, help="No pacing (the default without --rate).")
@click.option("--days", default=120, show_default=True, type=click.IntRange(1), help="Simulated days.")
@click.option("--truth", "truth_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the ground truth here (JSON).")
@click.option("--start", default=DEFAULT_START, show_default=True, help="First simulated day (ISO date).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option("--incidents", "scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Inject the incidents of this scenario (YAML, docs/analyst-guide.md).")
@click.option("--switch-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Inject the incidents of a scenario written here while publishing (journeys switch-on).")
@click.option("--incident-log", "incident_log", type=click.Path(dir_okay=False, path_type=Path),
              help="Append a JSON line here when an incident's first injected event is published.")
@click.pass_context
def simulate_command(ctx: click.Context, customers: int, seed: int, rate: float | None, fast: bool, days: int,
                     truth_path: Path | None, start: str, progress: bool, scenario_path: Path | None,
                     switch_file: Path | None, incident_log: Path | None) -> None:
    """Publish simulated customer journeys (with known friction) and write their ground truth."""
    if rate and fast:
        raise click.UsageError("--rate and --as-fast-as-possible exclude each other")
    settings = settings_of(ctx)
    journey_map = load_journey_map(settings.journey_map)
    secret = settings.pii_secret.get_secret_value().encode("utf-8")
    pace = None if fast else rate
    scenario = scenario_of(scenario_path, journey_map)
    args = SimulationArgs(customers, seed, days, parse_start(start), journey_map, secret, scenario)
    # Paced runs last long: their truth is written before publishing, fast runs' once published.
    with simulated_in_child(args, min(chunk_size(pace), ENCODE_CHUNK), truth_first=pace is not None) as child:
        if pace is not None:
            write_truth(child.truth(), truth_path)
        ensure_topics(settings)
        with Publisher.connect(settings, source="simulator", journey_map=journey_map, bulk_only=True) as publisher:
            switch = Switch(switch_file, journey_map.friction) if switch_file else None
            planned = [spec.name for spec in scenario.incidents] if scenario else []
            chunks = watch(switchable(child.chunks(), switch), lambda: planned + (switch.names() if switch else []),
                           incident_log)
            summary = publish_encoded(chunks, child.deliveries, publisher, pace, show_progress=progress)
        truth = child.truth()
    if pace is None:
        write_truth(truth, truth_path)
    click.echo(summary_line(summary, truth, truth_path))


def scenario_of(path: Path | None, journey_map: JourneyMap) -> Scenario | None:
    if path is None:
        return None
    try:
        scenario = load_scenario(path)
        check_dimensions(scenario, journey_map)
    except ScenarioError as err:
        raise click.BadParameter(str(err), param_hint="--incidents") from None
    return scenario


def write_truth(truth: GroundTruth, path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(truth.model_dump_json(), encoding="utf-8")


def summary_line(summary: RunSummary, truth: GroundTruth, truth_path: Path | None) -> str:
    totals = truth.totals
    channels = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.published.items()))
    line = (f"published {sum(summary.published.values()):,} events ({channels}), {summary.dead_lettered} "
            f"malformed dead-lettered, in {summary.elapsed_s:.1f} s ({summary.rate:,.0f}/s); truth: "
            f"{totals.customers:,} customers, {totals.journeys:,} journeys, {totals.events:,} events, "
            f"{totals.duplicates} duplicates, {sum(totals.friction_by_rule.values()):,} friction")
    return line + (f"; written to {truth_path}" if truth_path else "")
