"""Conformance to the designed journey, counted per touchpoint, on journeys told by hand.

The journey map's phases run research -> compare -> purchase -> after-sales. One customer goes by
the book (product, compare, checkout); one goes back from checkout to a product page (reversed at
web.product); one goes from a product page straight to checkout (skipped compare at
web.checkout); one looks at products for three hours (overstayed research with a one-hour limit).
"""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from clickhouse_connect.driver.client import Client

from clickhouse.analyses.named import Extra, run_analysis
from clickhouse.queries import Filters
from clickhouse.sink import WarehouseWriter
from foundation.settings import Settings
from journeys.cli import main
from schemas.journeymap import load_journey_map
from streams.core.pipeline import Pipeline
from tests.clickhouse.test_analyses import CS, PV, WEEK1, env, run, visit

COMPARE = "web.compare:compare"
HOUR_S = 3600


def told(warehouse: Client) -> Client:
    pipeline = Pipeline(load_journey_map())
    events = [*visit("by-the-book", "desktop", WEEK1, [(0, PV), (2, COMPARE), (4, CS)]),
              *visit("goes-back", "desktop", WEEK1, [(0, PV), (2, COMPARE), (4, CS), (6, PV)]),
              *visit("skips", "mobile", WEEK1, [(0, PV), (2, CS)]),
              *visit("lingers", "mobile", WEEK1, [(0, PV), (90, PV), (180, PV), (182, COMPARE)])]
    WarehouseWriter(warehouse).write([r for e in events for r in pipeline.feed(e)])
    return warehouse


def conformance(client: Client, limits: tuple[int, ...] = ()) -> dict[str, tuple[int, int, int, int]]:
    phases = load_journey_map().phase_ids
    result = run_analysis(client, "conformance", Filters(start=WEEK1 - timedelta(days=1), end=WEEK1 + timedelta(days=1)),
                          Extra(phases=phases, max_phase_s=limits))
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    return {r["touchpoint"]: (r["journeys"], r["reversed"], r["skipped"], r["overstayed"]) for r in rows}


def test_reversed_and_skipped_phases_are_counted_where_they_happen(warehouse: Client) -> None:
    assert conformance(told(warehouse)) == {"web.product": (4, 1, 0, 0), "web.checkout": (3, 0, 1, 0)}


def test_a_stay_longer_than_the_phase_allows(warehouse: Client) -> None:
    research_limit = tuple(HOUR_S if p == "research" else 0 for p in load_journey_map().phase_ids)
    found = conformance(told(warehouse), research_limit)
    assert found["web.product"] == (4, 1, 0, 1)


def test_the_command_counts_per_touchpoint_with_a_stay_limit_and_names_a_wrong_phase(
        settings: Settings, warehouse: Client) -> None:
    told(warehouse)
    window = ["--from", f"{WEEK1 - timedelta(days=1):%Y-%m-%d}", "--to", f"{WEEK1 + timedelta(days=1):%Y-%m-%d}"]
    rows = {r["touchpoint"]: r for r in run(settings, "conformance", "--max-stay", "research=1h", *window)}
    assert (rows["web.product"]["reversed"], rows["web.product"]["overstayed"]) == (1, 1)
    assert rows["web.checkout"]["skipped"] == 1
    wrong = CliRunner().invoke(main, ["conformance", "--max-stay", "reserch=1h"], env=env(settings))
    assert wrong.exit_code == 2 and "no phase 'reserch'" in wrong.output
