"""`journeys migrate` and `journeys query` from the command line, on the test's own database."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from clickhouse_connect.driver.client import Client

from clickhouse.sink import WarehouseWriter
from foundation.settings import Settings
from journeys.cli import main
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


def one_clear_line(result: Result) -> str:
    """The command failed with exit code 2 and one line of explanation, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "DB::Exception" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_commands_before_any_run_say_what_to_run(settings: Settings, tmp_path: Path) -> None:
    for args in (("query", "funnel"), ("query", "experience_map"), ("map", "--out", str(tmp_path / "m.html"))):
        line = one_clear_line(journeys(settings, *args))
        assert "no tables yet" in line and "journeys migrate" in line and settings.clickhouse.database in line


HOLD_WAREHOUSE = """
import sys, time
from clickhouse.client import connect
from foundation.settings import Settings
client = connect(Settings(data_dir=sys.argv[1]))  # kept: the path stays open while it lives
print("held", flush=True)
time.sleep(120)
"""


@pytest.fixture
def held_data_dir(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A data dir whose embedded warehouse another process holds open (as a running worker does)."""
    data_dir = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WAREHOUSE, str(data_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield data_dir, holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_commands_on_a_held_warehouse_name_the_holder(held_data_dir: tuple[Path, int]) -> None:
    data_dir, pid = held_data_dir
    env = {"JOURNEYS_DATA_DIR": str(data_dir), "JOURNEYS_CLICKHOUSE__DSN": ""}
    for args in (("query", "funnel"), ("migrate",), ("map", "--out", str(data_dir / "m.html"))):
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        line = one_clear_line(result)
        assert f"held by process {pid}" in line and "stop it first" in line, line


def test_query_tables_fit_100_columns_with_durations_in_minutes(settings: Settings, warehouse: Client) -> None:
    WarehouseWriter(warehouse).write(s.RECORDS)
    lines = journeys(settings, "query", "touchpoint_scorecard").output.splitlines()
    assert max(len(line) for line in lines) <= 100
    support_wait = next(line for line in lines if "call_centre.support" in line and "avg_wait_s" in line)
    assert f"{400 / 60:.1f} min" in support_wait  # a waits 400 s on the support line, not "400.0"
