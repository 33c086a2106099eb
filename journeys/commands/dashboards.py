"""Commands on the dashboards (the grafana stage): `journeys grafana build`, `deploy` and `check`.
Each reads the settings once and calls the stage's functions; `check` opens the warehouse for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import click
from pydantic import SecretStr

from clickhouse.client import connect as connect_warehouse
from grafana.alerts import alert_rules
from grafana.boards import all_dashboards
from grafana.check import check
from grafana.deploy import ClickHouseConnection, apply, plan
from grafana.deploy import connect as connect_grafana
from grafana.export import GRAFANA_DIR, build
from journeys.commands.options import settings_of
from schemas.journeymap import load_journey_map

DEFAULT_CHECK_DAYS = 7


@click.group("grafana")
def grafana_group() -> None:
    """Dashboards as code: build the JSON, deploy to Grafana, check every panel query."""


@grafana_group.command("build")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=GRAFANA_DIR, show_default=True,
              help="Where to write dashboards/ and provisioning/.")
@click.pass_context
def build_command(ctx: click.Context, out: Path) -> None:
    """Write the dashboards JSON and the provisioning files (data source, provider, alert rules)."""
    for path in build(load_journey_map(settings_of(ctx).journey_map), out):
        click.echo(str(path))


@grafana_group.command("deploy")
@click.option("--url", required=True, help="Grafana base URL, e.g. http://localhost:3000.")
@click.option("--token", required=True, help="A service-account token with editor and alerting rights.")
@click.option("--clickhouse-host", default=None, help="Host Grafana reaches ClickHouse on (default: from the DSN).")
@click.option("--clickhouse-port", type=int, default=None, help="ClickHouse HTTP port (default: from the DSN).")
@click.option("--clickhouse-user", default="grafana_ro", show_default=True, help="The read-only dashboards user.")
@click.option("--clickhouse-password", prompt=True, hide_input=True, help="Password of the read-only user.")
@click.pass_context
def deploy_command(ctx: click.Context, url: str, token: str, clickhouse_host: str | None,
                   clickhouse_port: int | None, clickhouse_user: str, clickhouse_password: str) -> None:
    """Create or update the folder, the ClickHouse data source, the dashboards and the alert rules."""
    settings = settings_of(ctx)
    dsn = urlparse(settings.clickhouse.dsn) if settings.clickhouse.dsn.startswith("http") else None
    connection = ClickHouseConnection(
        host=clickhouse_host or (dsn.hostname if dsn and dsn.hostname else "clickhouse"),
        port=clickhouse_port or (dsn.port if dsn and dsn.port else 8123),
        username=clickhouse_user, password=SecretStr(clickhouse_password),
        database=settings.clickhouse.database, secure=bool(dsn and dsn.scheme == "https"))
    deployment = plan(load_journey_map(settings.journey_map), connection)
    for line in apply(connect_grafana(url, SecretStr(token)), deployment):
        click.echo(f"deployed {line}")


@grafana_group.command("check")
@click.option("--days", type=float, default=DEFAULT_CHECK_DAYS, show_default=True,
              help="Check the range from this many days before --to.")
@click.option("--to", "end", type=click.DateTime(), default=None, help="End of the range, UTC (default: now).")
@click.option("--verbose", is_flag=True, help="List every query, not only the failures.")
@click.pass_context
def check_command(ctx: click.Context, days: float, end: datetime | None, verbose: bool) -> None:
    """Run every variable, panel and alert query on the configured ClickHouse; exit 1 on any failure."""
    settings = settings_of(ctx)
    stop = end.replace(tzinfo=UTC) if end else datetime.now(UTC)
    journey_map = load_journey_map(settings.journey_map)
    outcomes = check(connect_warehouse(settings), all_dashboards(journey_map), stop - timedelta(days=days), stop,
                     alert_rules(journey_map))
    for outcome in outcomes:
        if verbose or not outcome.ok:
            status = "ok" if outcome.ok else "FAILED"
            click.echo(f"{status} {outcome.case.where()}: {len(outcome.rows)} rows"
                       + "".join(f"\n    {p}" for p in outcome.problems))
    failed = sum(not o.ok for o in outcomes)
    empty = sum(o.ok and not o.rows for o in outcomes)
    click.echo(f"{len(outcomes)} queries checked, {failed} failed, {empty} returned no rows")
    if failed:
        ctx.exit(1)
