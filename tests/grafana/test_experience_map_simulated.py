"""The experience map of the simulator's traffic: injected pain points land in their cells.

Two simulated periods go through the stream core and the warehouse writer into chDB: spring
with the simulator's usual friction but no long waits on calls, summer with a long wait injected
on every call that can have one. The map of each period must show, cell by cell, exactly the
frictions the simulator's ground truth says it injected there; the comparison of summer against
spring must show the call cells worse where they have calls enough for the test to tell.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.sink import WarehouseWriter
from foundation.settings import ClickHouseSettings, Settings
from grafana.experience_map.model import ExperienceMap, build_map, compare
from grafana.experience_map.queries import fetch, period_label, window
from producers.simulator import FRICTION_RATES, Simulation, simulate
from schemas.journeymap import load_journey_map
from streams.core.pipeline import Pipeline

JOURNEY_MAP = load_journey_map()
SPRING, SUMMER, AUTUMN = (datetime(2026, m, 1, tzinfo=UTC) for m in (3, 5, 7))
CUSTOMERS, DAYS = 80, 20
SECRET = b"experience-map-test-secret"
SPRING_RATES = FRICTION_RATES | {"long_wait": 0.0}
SUMMER_RATES = FRICTION_RATES | {"long_wait": 1.0}


@pytest.fixture(scope="module")
def simulations() -> dict[str, Simulation]:
    return {"spring": simulate(CUSTOMERS, 21, DAYS, SPRING, JOURNEY_MAP, SECRET, SPRING_RATES),
            "summer": simulate(CUSTOMERS, 22, DAYS, SUMMER, JOURNEY_MAP, SECRET, SUMMER_RATES)}


@pytest.fixture(scope="module")
def simulated_warehouse(simulations: dict[str, Simulation], warehouse_dsn: str,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("simulated-map"),
                        clickhouse=ClickHouseSettings(dsn=warehouse_dsn, database=f"simmap_{uuid.uuid4().hex[:8]}"))
    client = connect(settings)
    migrate(client)
    pipeline = Pipeline(JOURNEY_MAP)
    records: list[Any] = []
    for simulation in simulations.values():
        for event in simulation.events():
            records += pipeline.feed(event)
    WarehouseWriter(client).write(records)
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse.database}`")


def drawn(client: Client, start: datetime, end: datetime) -> ExperienceMap:
    filters = window(start, end, None)
    return build_map(fetch(client, filters, JOURNEY_MAP.phase_ids), JOURNEY_MAP, None, period_label(filters))


def injected(simulation: Simulation) -> Counter[tuple[str, str, str]]:
    """(phase, touchpoint, rule) -> frictions the simulator injected there."""
    return Counter((f.phase or "", f.touchpoint, f.rule) for p in simulation.truth.persons for f in p.friction)


def top_rule(counts: Counter[tuple[str, str, str]], cell: tuple[str, str]) -> str:
    here = sorted((-n, rule) for (phase, tp, rule), n in counts.items() if (phase, tp) == cell)
    return here[0][1]


def test_each_cell_shows_the_frictions_injected_there(simulated_warehouse: Client,
                                                     simulations: dict[str, Simulation]) -> None:
    for (start, end), name in (((SPRING, SUMMER), "spring"), ((SUMMER, AUTUMN), "summer")):
        truth = injected(simulations[name])
        m = drawn(simulated_warehouse, start, end)
        per_cell: Counter[tuple[str, str]] = Counter()
        for (phase, tp, _), n in truth.items():
            per_cell[(phase, tp)] += n
        # The grid has a cell where the touchpoint has steps in that phase; a friction placed
        # elsewhere (feedback about the checkout given after the sale) is listed under it.
        on_grid = {key: n for key, n in per_cell.items() if key in m.cells}
        assert Counter({(p, t, r): n for p, t, r, n in m.off_grid}) == Counter(
            {key: n for key, n in truth.items() if key[:2] not in m.cells})
        assert {key: cell.frictions for key, cell in m.cells.items() if cell.frictions} == on_grid
        assert {key: m.cells[key].top_rule for key in on_grid} == {key: top_rule(truth, key) for key in on_grid}


def test_summer_long_waits_make_the_call_cells_worse(simulated_warehouse: Client,
                                                     simulations: dict[str, Simulation]) -> None:
    waits = {(phase, tp) for (phase, tp, rule) in injected(simulations["summer"]) if rule == "long_wait"}
    assert waits and not any(rule == "long_wait" for (_, _, rule) in injected(simulations["spring"]))
    comparison = compare(drawn(simulated_warehouse, SUMMER, AUTUMN), drawn(simulated_warehouse, SPRING, SUMMER))
    changes = {key: comparison.changes[key] for key in waits}
    # Judged by the friction test: every call cell's rate rose; the busiest is worse.
    assert all(c.friction_z > 0 and c.verdict != "better" for c in changes.values()), changes
    busiest = max(waits, key=lambda key: comparison.before.cells[key].volume)
    assert changes[busiest].verdict == "worse", (changes[busiest], comparison.after.cells[busiest], comparison.before.cells[busiest])
