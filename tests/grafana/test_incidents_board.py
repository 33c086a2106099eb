"""The Incidents dashboard and the new-incident alert over a simulated shop with injected incidents
(tests/clickhouse/simulated_incidents.py): the panel's SQL, expanded as Grafana sends it, lists
each injected incident with its weeks and its dimension value; the alert query returns a row for
an incident going on and none for the same shop without incidents."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.queries import Filters
from clickhouse.queries import run as run_named
from foundation.settings import ClickHouseSettings, Settings
from grafana.alerts import alert_rules, new_incident_rule
from grafana.boards.incidents import dashboard
from grafana.cases import ALL_SELECTED, alert_cases, panel_cases, panel_context, variable_cases
from grafana.check import Outcome, run
from producers.simulator.truth import IncidentTruth
from schemas.journeymap import load_journey_map
from tests.clickhouse.simulated_incidents import DAYS, START, TWO_INCIDENTS, Shop, load, steady_shop

JOURNEY_MAP = load_journey_map()
BOARD = dashboard(JOURNEY_MAP)
END = START + timedelta(days=DAYS)
SEED = 1


def warehouse(shop: Shop, dsn: str) -> Iterator[Client]:
    settings = Settings(clickhouse=ClickHouseSettings(dsn=dsn, database=f"incboard_{uuid.uuid4().hex[:8]}"))
    client = connect(settings)
    migrate(client)
    load(client, shop)
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse.database}`")


@pytest.fixture(scope="module")
def injected() -> Shop:
    return steady_shop(SEED, TWO_INCIDENTS)


@pytest.fixture(scope="module")
def incident_warehouse(injected: Shop, warehouse_dsn: str) -> Iterator[Client]:
    yield from warehouse(injected, warehouse_dsn)


@pytest.fixture(scope="module")
def clean_warehouse(warehouse_dsn: str) -> Iterator[Client]:
    yield from warehouse(steady_shop(SEED, None), warehouse_dsn)


@pytest.fixture(scope="module")
def outcomes(incident_warehouse: Client) -> list[Outcome]:
    """The board's variables and panels for All and two devices (every value would take minutes)."""
    options = {"device_type": ("desktop", "mobile")}
    cases = [*variable_cases(BOARD, {}, panel_context(START, END)),
             *panel_cases(BOARD, options, panel_context(START, END)), *alert_cases(alert_rules(JOURNEY_MAP), END)]
    return [run(incident_warehouse, case) for case in cases]


def listed(truth: IncidentTruth, row: dict[str, object]) -> bool:
    """Listed at the injected touchpoint, for the injected value, within a week of its weeks."""
    slack = timedelta(weeks=1)
    first, last = row["first_period"], row["last_period"]
    assert isinstance(first, datetime) and isinstance(last, datetime)
    return (row["touchpoint"] == truth.touchpoint and row["what"] == truth.what
            and row["who"] == f"{truth.dimension}={truth.value}"
            and truth.start.replace(tzinfo=None) - slack <= first and last <= truth.end.replace(tzinfo=None) + slack)


def rows(outcomes: list[Outcome], selection: str = ALL_SELECTED) -> list[dict[str, object]]:
    found = next(o for o in outcomes if (o.case.panel, o.case.selection) == ("Incidents by week", selection))
    assert found.ok, found.problems
    names = [name for name, _ in found.columns]
    return [dict(zip(names, row, strict=True)) for row in found.rows]


def test_every_query_of_the_board_runs_and_fits(outcomes: list[Outcome]) -> None:
    failures = [f"{o.case.where()}: {'; '.join(o.problems)}" for o in outcomes if not o.ok]
    assert not failures, "\n".join(failures)


def test_the_weekly_panel_lists_each_injected_incident(outcomes: list[Outcome], injected: Shop) -> None:
    listing = rows(outcomes)
    assert len(injected.incidents) == 2
    for truth in injected.incidents:
        found = [row for row in listing if listed(truth, row)]
        assert found, f"{truth.name} is not listed: {listing}"
        assert all(float(str(r["rate"])) > float(str(r["baseline_rate"])) and float(str(r["score"])) >= 4
                   for r in found)


def test_a_dimension_value_keeps_its_incidents_and_hides_the_other_values(outcomes: list[Outcome]) -> None:
    mobile = {r["who"] for r in rows(outcomes, "device_type=mobile")}
    desktop = {r["who"] for r in rows(outcomes, "device_type=desktop")}
    assert "device_type=mobile" in mobile and "device_type=mobile" not in desktop
    assert "agent_team=team-support" in mobile & desktop  # other dimensions stay


def alert_rows(client: Client, end: datetime) -> list[tuple[object, ...]]:
    case, = alert_cases((new_incident_rule(JOURNEY_MAP),), end)
    outcome = run(client, case)
    assert outcome.ok, outcome.problems
    return [row[:4] for row in outcome.rows]


def test_the_alert_fires_while_an_incident_goes_on(incident_warehouse: Client, injected: Shop) -> None:
    mobile = next(t for t in injected.incidents if t.dimension == "device_type")
    expected = (mobile.touchpoint, "step", mobile.what, "device_type=mobile")
    assert expected not in alert_rows(incident_warehouse, mobile.start)
    assert expected in alert_rows(incident_warehouse, mobile.start + timedelta(weeks=1))


def test_the_alert_is_quiet_on_a_clean_shop(clean_warehouse: Client, injected: Shop) -> None:
    for truth in injected.incidents:
        assert alert_rows(clean_warehouse, truth.start + timedelta(weeks=1)) == []


def test_the_alert_is_quiet_on_a_clean_shop_in_the_middle_of_a_week(clean_warehouse: Client, injected: Shop) -> None:
    """The week going on holds its first hours or days only, many of its journeys too young to have
    taken their next step yet: its rates must not read as a fall against whole weeks."""
    for truth in injected.incidents:
        for into_week in (timedelta(hours=7), timedelta(days=3, hours=13)):
            assert alert_rows(clean_warehouse, truth.start + timedelta(weeks=1) + into_week) == []


def test_the_named_query_incidents_lists_what_the_weekly_panel_lists(outcomes: list[Outcome],
                                                                    incident_warehouse: Client, injected: Shop) -> None:
    """`journeys query incidents` (and `GET /v1/query/incidents`, tests/journeys/test_reads.py): the same
    judge for a client in any language."""
    named = run_named(incident_warehouse, "incidents", Filters(start=START, end=END), JOURNEY_MAP.phase_ids).as_dicts()
    key = ("first_period", "last_period", "touchpoint", "family", "what", "who", "score")
    assert sorted(tuple(r[k] for k in key) for r in named) == sorted(tuple(r[k] for k in key) for r in rows(outcomes))
    for truth in injected.incidents:
        assert any(listed(truth, row) for row in named), f"{truth.name} is not listed: {named}"
    mobile = next(t for t in injected.incidents if t.dimension == "device_type")
    desktop_only = run_named(incident_warehouse, "incidents", Filters(start=START, end=END, where_dim="device_type",
                                                                      where_value="desktop"), JOURNEY_MAP.phase_ids)
    assert not [r for r in desktop_only.as_dicts() if (r["touchpoint"], r["what"]) == (mobile.touchpoint, mobile.what)]
    assert any(r["who"] == "agent_team=team-support" for r in desktop_only.as_dicts())  # the other incident stays
