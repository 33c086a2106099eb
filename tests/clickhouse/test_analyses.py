"""Step funnels and paths on a small shop in the warehouse, counted by hand from the story.

Week one: two desktop customers (one orders, one stops at checkout) and two mobile ones: one
whose payment fails once before ordering (an error between two checkout steps: a loop), one who
orders two days after viewing (outside a one-day window). Week two: one mobile customer orders.
The events go through the real stream core and warehouse writer; the commands run on chDB.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from clickhouse_connect.driver.client import Client

from clickhouse.sink import WarehouseWriter
from foundation.settings import Settings
from journeys.cli import main
from schemas.channels import event_adapter
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map
from streams.core.pipeline import Pipeline

WEEK1, WEEK2 = datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 9, 9, tzinfo=UTC)
PV, CS, ERR, ORDER = ("web.product:product_view", "web.checkout:checkout_step", "web.checkout:error",
                      "web.checkout:order_placed")
_ids = itertools.count(1)


def web(who: str, device: str, at: datetime, step: str, **measures: Any) -> TouchpointEventBase:
    touchpoint, event_type = step.split(":")
    doc = {"event_id": f"a{next(_ids):05d}", "event_time": at, "received_time": at, "channel": "web",
           "touchpoint": touchpoint, "event_type": event_type, "identifiers": {"anonymous_id": who},
           "context": {"device_type": device}, "measures": measures}
    event: TouchpointEventBase = event_adapter().validate_python(doc)
    return event


def visit(who: str, device: str, start: datetime, steps: list[tuple[float, str]]) -> list[TouchpointEventBase]:
    return [web(who, device, start + timedelta(minutes=minutes), step) for minutes, step in steps]


def shop() -> list[TouchpointEventBase]:
    return [*visit("desk-a", "desktop", WEEK1, [(0, PV), (2, CS), (5, ORDER)]),
            *visit("desk-b", "desktop", WEEK1, [(0, PV), (2, CS)]),
            *visit("mob-c", "mobile", WEEK1, [(0, PV), (2, CS), (3, ERR), (4, CS), (6, ORDER)]),
            *visit("mob-d", "mobile", WEEK1, [(0, PV), (2 * 24 * 60, CS), (2 * 24 * 60 + 3, ORDER)]),
            *visit("mob-e", "mobile", WEEK2, [(0, PV), (1, CS), (2, ORDER)])]


@pytest.fixture
def shop_warehouse(settings: Settings, warehouse: Client) -> Settings:
    pipeline = Pipeline(load_journey_map())
    WarehouseWriter(warehouse).write([r for event in shop() for r in pipeline.feed(event)])
    return settings


def env(settings: Settings) -> dict[str, str]:
    return {"JOURNEYS_CLICKHOUSE__DSN": settings.warehouse_dsn(),
            "JOURNEYS_CLICKHOUSE__DATABASE": settings.clickhouse.database}


def run(settings: Settings, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, [*args, "--format", "json"], env=env(settings), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = orjson.loads(result.output)
    return rows


def funnel(settings: Settings, *extra: str) -> dict[tuple[str, str], list[int]]:
    rows = run(settings, "funnel", "--step", PV, "--step", CS, "--step", ORDER, "--within", "1d", *extra)
    out: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        out.setdefault((row["period"][:10], row["breakdown"]), []).append(row["journeys"])
    return out


def test_step_funnel_per_week_and_device(shop_warehouse: Settings) -> None:
    assert funnel(shop_warehouse, "--by", "device_type") == {
        ("2026-03-02", "desktop"): [2, 2, 1], ("2026-03-02", "mobile"): [2, 1, 1], ("2026-03-09", "mobile"): [1, 1, 1]}


def test_strict_order_breaks_on_an_event_between_steps(shop_warehouse: Settings) -> None:
    assert funnel(shop_warehouse, "--by", "device_type", "--order", "strict")[("2026-03-02", "mobile")] == [2, 1]


def test_funnel_compares_each_period_with_the_previous(shop_warehouse: Settings) -> None:
    rows = run(shop_warehouse, "funnel", "--step", PV, "--step", CS, "--within", "1d", "--where", "device_type=mobile")
    second = [(r["step_no"], r["journeys"], r["previous_period_journeys"], r["change_vs_previous"])
              for r in rows if r["period"].startswith("2026-03-09")]
    assert second == [(1, 1, 2, -0.5), (2, 1, 1, 0.0)]
    first = [(r["from_previous_step"], r["previous_period_journeys"]) for r in rows if r["period"].startswith("2026-03-02")]
    assert first == [(1.0, None), (0.5, None)]  # no period before the first


def test_paths_from_checkout_with_shares_and_median_time(shop_warehouse: Settings) -> None:
    rows = run(shop_warehouse, "paths", "--from-step", CS, "--depth", "2", "--by", "device_type")
    mobile = {(r["position"], r["from_step"], r["to_step"]): (r["journeys"], r["share"], r["median_s"])
              for r in rows if r["breakdown"] == "mobile"}
    assert mobile == {(1, CS, ORDER): (2, 0.6667, 120.0), (1, CS, ERR): (1, 0.3333, 60.0),
                      (2, ERR, CS): (1, 1.0, 60.0)}


def test_paths_to_a_step(shop_warehouse: Settings) -> None:
    rows = run(shop_warehouse, "paths", "--to-step", ORDER, "--depth", "1")
    assert {(r["position"], r["from_step"], r["to_step"], r["journeys"]) for r in rows} == {(-1, CS, ORDER, 4)}


def test_loops_back_to_a_step(shop_warehouse: Settings) -> None:
    rows = run(shop_warehouse, "paths", "--loops", "--by", "device_type")
    assert [(r["breakdown"], r["step"], r["via"], r["loops"], r["share_of_journeys_at_step"]) for r in rows] == [
        ("mobile", CS, ERR, 1, round(1 / 3, 4))]


def test_a_step_that_names_no_touchpoint_is_refused(shop_warehouse: Settings) -> None:
    result = CliRunner().invoke(main, ["funnel", "--step", "web.chekout:order_placed", "--step", PV],
                                env=env(shop_warehouse))
    assert result.exit_code == 2 and "web.chekout:order_placed" in result.output
