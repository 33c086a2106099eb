"""Incidents of the recent past: periods that slide with the data's present (`--last`).

A simulated shop of ten days (the offline shop of test_incidents_simulated.py is too small for
periods shorter than a week), its mobile payment errors from day 6, read as a live operator
would at chosen moments of it: half a day into the incident, the last day (in six-hour periods
ending at that moment) names it; an hour before it began, nothing.
Every judged period is complete (it ends at the moment asked), so the half day needs no
calendar hour or day to have closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from click.testing import CliRunner

from clickhouse.analyses.baseline import Incident
from clickhouse.analyses.incidents import IncidentQuery
from clickhouse.analyses.recent import RecentQuery, data_now, recent_incidents
from clickhouse.client import connect
from foundation.settings import Settings
from journeys.cli import main
from producers.simulator import simulate
from producers.simulator.incidents import IncidentSpec, Scenario
from tests.clickhouse.simulated_incidents import JOURNEY_MAP, START, Shop
from tests.clickhouse.test_incidents_simulated import loaded

SEED, CUSTOMERS, DAYS = 3, 2000, 9
ERRORS = IncidentSpec(name="mobile_pay_errors", kind="checkout_errors", start_day=6, days=3,
                      where={"device_type": "mobile"}, share=0.8)
ERRORS_START = START + timedelta(days=ERRORS.start_day)


@pytest.fixture(scope="module")
def shop() -> Shop:
    simulation = simulate(CUSTOMERS, SEED, DAYS, START, JOURNEY_MAP, b"recent-test-secret",
                          scenario=Scenario(incidents=(ERRORS,)))
    return Shop(simulation.events(), list(simulation.truth.incidents))


@pytest.fixture(scope="module")
def recent_warehouse(shop: Shop, warehouse_dsn: str) -> Iterator[Settings]:
    yield from loaded(shop, warehouse_dsn)


def found_at(settings: Settings, now: datetime, length: timedelta = timedelta(hours=6)) -> list[Incident]:
    query = IncidentQuery(start=now, end=now, dimensions=("device_type", "agent_team"))
    return recent_incidents(connect(settings), RecentQuery(query, now, timedelta(days=1), length))


def test_half_a_day_into_the_errors_the_last_day_names_them(recent_warehouse: Settings) -> None:
    found = found_at(recent_warehouse, ERRORS_START + timedelta(hours=12))
    errors = [i for i in found if (i.touchpoint, i.what) == ("web.checkout", "error")]
    assert errors and "device_type=mobile" in (errors[0].who, errors[0].concentrated_in), found
    assert errors[0].start >= ERRORS_START - timedelta(hours=6), errors  # not before it began


def test_the_day_before_the_errors_began_nothing_is_found(recent_warehouse: Settings) -> None:
    assert found_at(recent_warehouse, ERRORS_START - timedelta(hours=1)) == []
    assert found_at(recent_warehouse, ERRORS_START - timedelta(days=1)) == []


def test_periods_end_at_the_present_and_are_all_complete() -> None:
    now = datetime(2026, 3, 4, 10, 17, 3)
    recent = RecentQuery(IncidentQuery(start=now, end=now), now, timedelta(hours=2), timedelta(minutes=30))
    periods = recent.periods()
    assert periods[-1] == now - timedelta(minutes=30) and len(periods) == 4 + 4  # the window's 4, 4 of baseline
    assert {b - a for a, b in pairwise(periods)} == {timedelta(minutes=30)}


def test_the_data_present_is_its_newest_event(recent_warehouse: Settings, shop: Shop) -> None:
    assert data_now(connect(recent_warehouse)) == max(e.event_time for e in shop.events)


def test_a_duration_as_period_needs_last_and_last_excludes_from() -> None:
    for args, said in ((["--period", "6h"], "with --last a duration"),
                       (["--last", "1d", "--from", "2026-01-01"], "--last or --from/--to"),
                       (["--last", "soon"], "--last takes a positive duration"),
                       (["--last", "30d", "--period", "1m"], "more than 2000 periods")):
        result = CliRunner().invoke(main, ["incidents", *args])
        assert result.exit_code == 2 and said in result.output, result.output
