"""`journeys migrate` and `journeys query` from the command line, on the test's own database."""

from __future__ import annotations

import csv
import io

import orjson
from click.testing import CliRunner, Result
from clickhouse_connect.driver.client import Client

from clickhouse.sink import WarehouseWriter
from journeys.cli import main
from journeys.settings import Settings
from tests.clickhouse import scenario as s


def journeys(settings: Settings, *args: str) -> Result:
    env = {"JOURNEYS_CLICKHOUSE__DSN": settings.warehouse_dsn(),
           "JOURNEYS_CLICKHOUSE__DATABASE": settings.clickhouse.database}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_migrate_then_rerun(settings: Settings) -> None:
    first = journeys(settings, "migrate")
    assert first.exit_code == 0 and first.output.startswith("applied 0001")
    assert journeys(settings, "migrate").output == "warehouse is up to date\n"


def test_query_formats(settings: Settings, warehouse: Client) -> None:
    WarehouseWriter(warehouse).write(s.RECORDS)
    as_json = orjson.loads(journeys(settings, "query", "funnel", "--format", "json").output)
    assert [(r["phase"], r["journeys"]) for r in as_json] == [(f[0], f[1]) for f in s.FUNNEL]
    as_csv = list(csv.DictReader(io.StringIO(journeys(settings, "query", "friction_top", "--limit", "3",
                                                      "--format", "csv").output)))
    assert [r["rule"] for r in as_csv] == ["long_wait", "low_csat", "transfers"]
    table = journeys(settings, "query", "funnel", "--segment", "student", "--from", "2024-03-01").output
    assert "compare" in table and "after_sales" in table
    listed = journeys(settings, "query", "--list").output
    assert "experience_map" in listed and "--touchpoint" in listed


def test_query_refuses_unknown_names_and_filters(settings: Settings, warehouse: Client) -> None:
    unknown = journeys(settings, "query", "nope")
    assert unknown.exit_code == 2 and "no query named 'nope'" in unknown.output
    misplaced = journeys(settings, "query", "funnel", "--touchpoint", "web.checkout")
    assert misplaced.exit_code == 2 and "does not take --touchpoint" in misplaced.output
    injected = journeys(settings, "query", "friction_top", "--segment", "x' OR '1'='1", "--format", "json")
    assert orjson.loads(injected.output) == []
