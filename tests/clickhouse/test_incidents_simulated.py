"""Incidents found in simulated traffic: the simulator injects, the detector finds, neither asks the other.

Twelve weeks of a steady simulated shop (weekly cohorts, tests/clickhouse/simulated_incidents.py)
with two incidents of different kinds: payment errors at checkout for mobile customers (a step
that appears) and long call waits at the support team (a friction rule that rises). `journeys
incidents` must name both, with their weeks (+/- 1) and their dimension value; the same shop
without the scenario must yield at most one incident. The acceptance matrix, 26 weeks with three
incidents of three kinds over three seeds, is tests/clickhouse/test_incidents_soak.py (`-m soak`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from clickhouse.analyses.baseline import Incident
from clickhouse.client import connect
from clickhouse.migrate import migrate
from foundation.settings import ClickHouseSettings, Settings
from journeys.cli import main
from tests.clickhouse.simulated_incidents import (
    DAYS,
    JUDGED_FROM_WEEK,
    START,
    TWO_INCIDENTS,
    Shop,
    load,
    matches,
    steady_shop,
)

SEED = 1


@pytest.fixture(scope="module")
def injected() -> Shop:
    return steady_shop(SEED, TWO_INCIDENTS)


@pytest.fixture(scope="module")
def injected_warehouse(injected: Shop, warehouse_dsn: str) -> Iterator[Settings]:
    yield from loaded(injected, warehouse_dsn)


def loaded(shop: Shop, dsn: str) -> Iterator[Settings]:
    settings = Settings(clickhouse=ClickHouseSettings(dsn=dsn, database=f"inc_{uuid.uuid4().hex[:8]}"))
    client = connect(settings)
    migrate(client)
    load(client, shop)
    yield settings
    client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse.database}`")


def env(settings: Settings) -> dict[str, str]:
    return {"JOURNEYS_CLICKHOUSE__DSN": settings.warehouse_dsn(),
            "JOURNEYS_CLICKHOUSE__DATABASE": settings.clickhouse.database}


def incidents(settings: Settings, days: int = DAYS) -> list[Incident]:
    start, end = START + timedelta(weeks=JUDGED_FROM_WEEK), START + timedelta(days=days)
    result = CliRunner().invoke(main, ["incidents", "--from", f"{start:%Y-%m-%d}", "--to", f"{end:%Y-%m-%d}",
                                       "--by", "device_type", "--by", "agent_team", "--format", "json"],
                                env=env(settings), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = orjson.loads(result.output)
    return [Incident(**{**row, "start": _time(row["start"]), "end": _time(row["end"])}) for row in rows]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_both_injected_incidents_are_found_with_their_weeks_and_who(injected: Shop,
                                                                   injected_warehouse: Settings) -> None:
    assert {t.name for t in injected.incidents} == {"mobile_pay_errors", "support_waits"}
    assert all((t.customers or 0) >= 10 for t in injected.incidents), injected.incidents
    found = incidents(injected_warehouse)
    missed = [t.name for t in injected.incidents if not any(matches(t, f) for f in found)]
    assert not missed, found


def test_the_same_shop_without_incidents_yields_at_most_one(warehouse_dsn: str) -> None:
    for settings in loaded(steady_shop(SEED, None), warehouse_dsn):
        found = incidents(settings)
        assert len(found) <= 1, found


def test_explain_names_the_device_behind_the_checkout_errors(injected: Shop, injected_warehouse: Settings) -> None:
    errors = next(t for t in injected.incidents if t.name == "mobile_pay_errors")
    result = CliRunner().invoke(main, ["explain", "--from", f"{errors.start:%Y-%m-%d}", "--to", f"{errors.end:%Y-%m-%d}",
                                       "--by", "device_type", "--format", "json"],
                                env=env(injected_warehouse), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [r for r in orjson.loads(result.output) if (r["touchpoint"], r["what"]) == ("web.checkout", "error")]
    assert [r["who"] for r in rows][:2] == ["*", "device_type=mobile"]
    assert rows[1]["share_of_change"] == 1.0 and rows[0]["baseline_rate"] == 0.0
