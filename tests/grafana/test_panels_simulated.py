"""The dashboards over the simulator's traffic: simulated deliveries go through validation (bad
ones become dead letters), the stream core and the warehouse writer into chDB; every panel and
alert query must run and fit its panel, and the funnel and friction panels must show the
simulator's ground truth."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.queries import Filters, run
from clickhouse.sink import WarehouseWriter
from foundation.settings import ClickHouseSettings, Settings
from grafana.boards import all_dashboards, incidents
from grafana.cases import ALL_SELECTED
from grafana.check import Outcome, check
from producers.core import channel_hint
from producers.simulator import Simulation, simulate
from schemas.deadletters import dead_letter_of
from schemas.journeymap import load_journey_map
from schemas.outputs import HealthSample
from schemas.validation import Rejection, validate
from streams.core.pipeline import Pipeline

JOURNEY_MAP = load_journey_map()
# The Incidents board is checked on a shop with incidents (tests/grafana/test_incidents_board.py).
DASHBOARDS = tuple(d for d in all_dashboards(JOURNEY_MAP) if d.uid != incidents.UID)
START = datetime(2026, 4, 1, tzinfo=UTC)
CUSTOMERS, DAYS, SEED = 60, 14, 11


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    return simulate(CUSTOMERS, SEED, DAYS, START, JOURNEY_MAP, b"dashboards-test-secret")


def ingest(simulation: Simulation) -> list[BaseModel]:
    """What the producers record besides events: a dead letter per malformed delivery, and
    per-minute ingest counts per channel, both at the delivery's arrival time."""
    records: list[BaseModel] = []
    per_minute: Counter[tuple[datetime, str]] = Counter()
    for n, delivery in enumerate(simulation.deliveries):
        arrived = START + timedelta(seconds=delivery.arrival_s)
        per_minute[(arrived.replace(second=0, microsecond=0, tzinfo=None), delivery.channel)] += 1
        if isinstance(delivery.payload, bytes):
            result = validate(delivery.payload, f"simulator:{n}", JOURNEY_MAP)
            assert isinstance(result, Rejection)
            letter = dead_letter_of(result, channel_hint(delivery.payload) or delivery.channel)
            records.append(letter.model_copy(update={"rejected_at": arrived}))
    records += [HealthSample(minute=minute, stage="simulator", channel=channel, events=count)
                for (minute, channel), count in sorted(per_minute.items())]
    return records


@pytest.fixture(scope="module")
def simulated(simulation: Simulation, warehouse_dsn: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[Client, datetime]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("simulated-dashboards"),
                        clickhouse=ClickHouseSettings(dsn=warehouse_dsn, database=f"simdash_{uuid.uuid4().hex[:8]}"))
    client = connect(settings)
    migrate(client)
    pipeline = Pipeline(JOURNEY_MAP)
    records: list[BaseModel] = [r for event in simulation.events() for r in pipeline.feed(event)]
    WarehouseWriter(client).write([*records, *ingest(simulation)])
    last = max(START + timedelta(seconds=d.arrival_s) for d in simulation.deliveries)
    yield client, last + timedelta(hours=1)
    client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse.database}`")


@pytest.fixture(scope="module")
def outcomes(simulated: tuple[Client, datetime]) -> list[Outcome]:
    client, end = simulated
    return check(client, DASHBOARDS, START, end)


def rows_of(outcomes: list[Outcome], dashboard: str, panel: str) -> tuple[tuple[object, ...], ...]:
    return next(o.rows for o in outcomes if (o.case.dashboard, o.case.panel, o.case.selection)
                == (dashboard, panel, ALL_SELECTED))


def test_every_query_runs_and_fits_its_panel(outcomes: list[Outcome]) -> None:
    failures = [f"{o.case.where()}: {'; '.join(o.problems)}" for o in outcomes if not o.ok]
    assert not failures, "\n".join(failures)


def test_dashboards_show_the_simulation(outcomes: list[Outcome]) -> None:
    # Health panels that read consumer samples need the worker and sink, not just the simulator.
    consumer_panels = {"Consumer lag", "End-to-end latency"}
    empty = [o.case.where() for o in outcomes if o.case.selection == ALL_SELECTED
             and o.case.kind not in ("alert", "variable") and not o.rows and o.case.panel not in consumer_panels]
    assert not empty


def test_dimension_variables_offer_the_values_the_events_carried(outcomes: list[Outcome], simulation: Simulation
                                                                 ) -> None:
    carried: dict[str, set[str]] = {name: set() for name in JOURNEY_MAP.dimension_names}
    for event in simulation.events():
        for name, value in (event.context or {}).items():
            carried[name].add(value)
    for dashboard in DASHBOARDS:
        offered = {o.case.panel[1:]: {str(r[0]) for r in o.rows} for o in outcomes
                   if o.case.kind == "variable" and o.case.dashboard == dashboard.uid and o.case.panel[1:] in carried}
        assert offered == carried, dashboard.uid
    assert carried["device_type"] and carried["agent_team"]


def test_a_dimension_value_filters_panels_as_the_named_queries_do(
        outcomes: list[Outcome], simulated: tuple[Client, datetime]) -> None:
    client, end = simulated
    checked = 0
    for o in outcomes:
        if (o.case.dashboard, o.case.panel) != ("journeys-funnel", "Journeys reaching each phase") \
                or not o.case.selection.startswith("device_type="):
            continue
        value = o.case.selection.split("=", 1)[1]
        named = run(client, "funnel", Filters(START, end, where_dim="device_type", where_value=value),
                    JOURNEY_MAP.phase_ids)
        assert {row[0]: row[1] for row in o.rows} == {r["phase"]: r["journeys"] for r in named.as_dicts()}, value
        checked += 1
    everyone = {row[0]: row[1] for row in rows_of(outcomes, "journeys-funnel", "Journeys reaching each phase")}
    assert checked >= 3 and everyone.get("research")


def test_funnel_panels_equal_the_ground_truth(outcomes: list[Outcome], simulation: Simulation) -> None:
    truth = simulation.truth.totals
    reached = {row[0]: row[1] for row in rows_of(outcomes, "journeys-funnel", "Journeys reaching each phase")}
    dropped = {row[0]: row[1] for row in rows_of(outcomes, "journeys-funnel", "Drop-off by phase")}
    assert reached == {step.phase: step.reached for step in truth.funnel}
    assert dropped == {step.phase: step.dropped for step in truth.funnel}
    (journeys, converted, _), = rows_of(outcomes, "journeys-funnel", "Journeys and conversion")
    assert (journeys, converted) == (truth.journeys, truth.converted_journeys)


def test_friction_panels_equal_the_ground_truth(outcomes: list[Outcome], simulation: Simulation) -> None:
    by_rule: Counter[object] = Counter()
    for _, rule, count in rows_of(outcomes, "journeys-friction", "Friction over time by rule"):
        by_rule[rule] += int(count)  # type: ignore[call-overload]
    assert dict(by_rule) == {rule: n for rule, n in simulation.truth.totals.friction_by_rule.items() if n}


def test_dead_letters_panel_counts_every_malformed_delivery(outcomes: list[Outcome], simulation: Simulation) -> None:
    shown = sum(int(row[2]) for row in rows_of(outcomes, "journeys-health", "Dead-letter reasons"))  # type: ignore[call-overload]
    assert shown == simulation.truth.totals.malformed > 0
