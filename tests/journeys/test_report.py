"""The terminal report fits 100 columns and shows durations in the units a person reads.

Story: at 120 columns the demo's scorecards wrapped into three-line cells, and the e-mail response
time read "36,358.8" (seconds). Every table must fit the width without wrapping a cell (a scorecard
too wide for it is listed vertically instead), and a duration reads as s, min or h.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from rich.console import Console

from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.queries import QueryResult
from clickhouse.sink import WarehouseWriter
from foundation.settings import Settings
from journeys.report import REPORT_WIDTH, pivot_scorecard, print_report
from journeys.tables import duration
from schemas.journeymap import load_journey_map
from tests.clickhouse import scenario as s

# Every measure the scorecard query reports for a touchpoint (clickhouse/sql.py), with large values.
MEASURES = {"events": 123456.0, "customers": 98765.0, "avg_time_on_page_s": 184.2, "avg_navigation_ease": 3.87,
            "online_sales": 4321.0, "avg_wait_s": 412.5, "transfer_rate": 0.231, "first_contact_resolution": 0.714,
            "avg_response_s": 36358.8, "bounces": 1234.0, "avg_queue_wait_s": 95.0, "csat_avg": 3.42,
            "csat_responses": 5678.0, "nps": -12.5, "nps_responses": 2345.0}


@pytest.fixture
def warehouse(settings: Settings) -> Iterator[Client]:
    client = connect(settings)
    migrate(client)
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse.database}`")


def printed(width: int, *renderables: object) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    for renderable in renderables:
        console.print(renderable)
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def test_durations_read_in_seconds_minutes_hours() -> None:
    assert [duration(v) for v in (4.25, 45.0, 412.5, 36358.8, 3 * 86400.0)] == [
        "4.2 s", "45 s", f"{412.5 / 60:.1f} min", f"{36358.8 / 3600:.1f} h", "3.0 d"]


def test_a_scorecard_too_wide_for_100_columns_is_listed_without_wrapping() -> None:
    journey_map = load_journey_map()
    rows = [(t.id, kpi, value) for t in journey_map.touchpoints for kpi, value in MEASURES.items()]
    tables = pivot_scorecard(QueryResult(("touchpoint", "kpi", "value"), rows), journey_map, REPORT_WIDTH)
    lines = printed(REPORT_WIDTH, *tables)
    assert max(len(line) for line in lines) <= REPORT_WIDTH
    text = "\n".join(lines)
    for touchpoint in journey_map.touchpoints:  # each label whole on one line: no cell wrapped
        assert any(touchpoint.label in line for line in lines), touchpoint.label
    assert text.count(duration(36358.8)) == sum(1 for _ in journey_map.touchpoints)
    assert "36,358.8" not in text and "36358.8" not in text


def test_the_report_fits_100_columns(settings: Settings, warehouse: Client) -> None:
    WarehouseWriter(warehouse).write(s.RECORDS)
    console = Console(file=io.StringIO(), width=120, color_system=None)  # the demo's width off a terminal
    counts = print_report(console, settings, load_journey_map())
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert all(counts.values())
    assert max(len(line) for line in lines) <= REPORT_WIDTH
    assert any("Call centre: support line" in line and duration(400.0) in line for line in lines)
