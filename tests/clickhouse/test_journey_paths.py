"""Kept paths (migration 0009, `journey_paths`) are the paths the touchpoints give.

A simulated shop goes through the real stream core and warehouse writer: customers merged across
devices (journeys retracted and re-cut), duplicates, and events that arrive past the allowed lateness
(placed in a journey without revising it, yet part of its path). Paths and loops read over a long
window take each journey inside it from `journey_paths` and the rest from the touchpoints; read with the
kept paths switched off they must give the same rows, for every breakdown, anchor, direction and filter.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.analyses.paths import BOUNDS, COVERED, LOOPS_SQL, PATHS_SQL, ROLLUP
from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.sink import WarehouseWriter
from foundation.settings import ClickHouseSettings, Settings
from producers.simulator import simulate
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map
from streams.core.pipeline import Pipeline

START = datetime(2026, 1, 5, tzinfo=UTC)
DAYS = 150
MAP = load_journey_map()


def late_copies(events: list[TouchpointEventBase], every: int) -> list[TouchpointEventBase]:
    """Copies of some events, three days earlier in event time and received after everything: late."""
    last = max(e.received_time for e in events)
    return [e.model_copy(update={"event_id": f"{e.event_id}-late", "event_time": e.event_time - timedelta(days=3),
                                 "received_time": last + timedelta(hours=1)})
            for e in events[::every] if e.event_time - timedelta(days=3) > START]


@pytest.fixture(scope="module")
def shop(warehouse_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    database = f"journeys_paths_{uuid.uuid4().hex[:8]}"
    client = connect(Settings(data_dir=tmp_path_factory.mktemp("paths"),
                              clickhouse=ClickHouseSettings(dsn=warehouse_dsn, database=database)))
    migrate(client)
    events = simulate(150, 23, DAYS, START, MAP, b"paths-test-secret").events()
    events = sorted(events, key=lambda e: e.received_time) + late_copies(events, 97)
    pipeline = Pipeline(MAP)
    WarehouseWriter(client).write([r for event in events for r in pipeline.feed(event)])
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{database}`")


def params(**changes: Any) -> dict[str, Any]:
    return {"start": START, "end": START + timedelta(days=DAYS + 30), "anchor": "", "depth": 3,
            "direction": "from", "by": "", "limit": 1000, "channel": "", "segment": "", "where_dim": "",
            "where_value": ""} | changes


def test_the_warehouse_keeps_each_journeys_path_as_its_touchpoints_give_it(shop: Client) -> None:
    kept = shop.query("SELECT journey_id, codes, times FROM journey_paths FINAL WHERE known AND NOT retracted "
                      "ORDER BY journey_id").result_rows
    built = shop.query("""
        SELECT journey_id, arrayFilter((c, p) -> c != p, sorted, arrayPushFront(arrayPopBack(sorted), 0)),
               arrayFilter((t, c, p) -> c != p, arraySort(ts), sorted, arrayPushFront(arrayPopBack(sorted), 0))
        FROM (SELECT journey_id, arraySort((c, t) -> (t, c), groupArray(cityHash64(touchpoint, event_type)),
                                           groupArray(event_time)) AS sorted, groupArray(event_time) AS ts
              FROM touchpoints FINAL GROUP BY journey_id)
        ORDER BY journey_id""").result_rows
    assert len(kept) > 100 and kept == built
    shape = dict(shop.query("SELECT 'late', count() FROM touchpoints FINAL WHERE late UNION ALL "
                            "SELECT 'retracted', countIf(retracted) FROM journey_paths FINAL UNION ALL "
                            "SELECT 'unknown', countIf(NOT known AND NOT retracted) FROM journey_paths FINAL").result_rows)
    assert shape["late"] > 0 and shape["retracted"] > 0 and shape["unknown"] == 0, shape


CASES = [
    {}, {"by": "device_type"}, {"by": "segment"}, {"by": "channel", "direction": "to", "anchor": "web.checkout:order_placed"},
    {"anchor": "web.checkout:checkout_step", "by": "device_type"}, {"anchor": "web.product", "direction": "to"},
    {"anchor": ":call_answered", "depth": 5},
    # windows that cut journeys at both ends, still long enough for kept paths
    {"start": START + timedelta(days=20), "end": START + timedelta(days=145), "by": "device_type"},
    {"start": START + timedelta(days=20), "end": START + timedelta(days=145), "anchor": "web.checkout"},
    {"channel": "web"}, {"segment": "researcher", "by": "device_type"},
    {"where_dim": "device_type", "where_value": "mobile", "by": "channel"},
]


@pytest.mark.parametrize("case", CASES, ids=[",".join(f"{k}={v}" for k, v in c.items()) or "all" for c in CASES])
def test_paths_and_loops_from_kept_paths_equal_those_from_the_touchpoints(shop: Client, case: dict[str, Any]) -> None:
    bound = params(**case)
    for sql in (PATHS_SQL, LOOPS_SQL):
        kept = shop.query(sql, parameters=bound).result_rows
        rebuilt = shop.query(sql.replace(ROLLUP, "false"), parameters=bound).result_rows
        assert kept == rebuilt
        assert kept or sql is LOOPS_SQL  # a case with no loops is fine; one with no paths would prove nothing


def test_kept_paths_are_read_over_a_long_window(shop: Client) -> None:
    """Over the whole shop every journey is read as kept and no touchpoint is read again: the time
    bounds of the rebuilt part are empty (from the start to the start, from the end to the end)."""
    bound = params()
    covered, kept = shop.query(f"SELECT countIf({COVERED}), countIf(known AND NOT retracted) FROM journey_paths FINAL",
                               parameters=bound).result_rows[0]
    assert covered == kept > 100
    until, since = shop.query(f"SELECT {BOUNDS}", parameters=bound).result_rows[0][0]
    assert (until, since) == (bound["start"].replace(tzinfo=None), bound["end"].replace(tzinfo=None))
    assert shop.query(f"SELECT {BOUNDS}", parameters=params(channel="web")).result_rows[0][0] == (
        bound["end"].replace(tzinfo=None), bound["start"].replace(tzinfo=None))  # single events filtered: all read
