"""A simulated shop with incidents, loaded into a warehouse: the test bed of the incident analyses.

The simulator writes `CUSTOMERS` people over `DAYS` days with a scenario's incidents; the events
go through the real stream core (identity, stitching, friction) and the warehouse writer. Used by
tests/clickhouse/test_analyses_simulated.py and, for detection figures over seeds, run as a script:
`python -m tests.clickhouse.simulated_incidents SEED...`.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickhouse_connect.driver.client import Client

from clickhouse.analyses.baseline import Incident
from clickhouse.analyses.incidents import IncidentQuery, find_incidents
from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.sink import WarehouseWriter
from foundation.settings import ClickHouseSettings, Settings
from producers.simulator import simulate
from producers.simulator.incidents import IncidentSpec, Scenario
from producers.simulator.truth import IncidentTruth
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map
from streams.core.pipeline import Pipeline

JOURNEY_MAP = load_journey_map()
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: weeks of the simulation are calendar weeks
DAYS, WARM_UP_WEEKS = 84, 3
COHORT, COHORT_DAYS = 100, 42  # customers arriving per week, and the days each cohort is simulated
TWO_INCIDENTS = Scenario(incidents=(
    IncidentSpec(name="mobile_pay_errors", kind="checkout_errors", start_day=35, days=14,
                 where={"device_type": "mobile"}, share=0.6),
    IncidentSpec(name="support_waits", kind="long_call_waits", start_day=56, days=14,
                 where={"agent_team": "team-support"}, share=0.8),
))


@dataclass(frozen=True)
class Shop:
    """Weekly cohorts of simulated customers: their events, and the incidents injected."""

    events: list[TouchpointEventBase]
    incidents: list[IncidentTruth]

THREE_INCIDENTS = Scenario(incidents=(
    *TWO_INCIDENTS.incidents,
    IncidentSpec(name="desktop_loop", kind="checkout_loop", start_day=49, days=14,
                 where={"device_type": "desktop"}, share=0.5),
))


def steady_shop(seed: int, scenario: Scenario | None) -> Shop:
    """One simulation per weekly cohort, from `WARM_UP_WEEKS` before START: one simulation's
    customers all arrive in its first days, so its weeks differ by the customers' age; cohorts
    arriving every week make the shop's weeks alike, as a real shop's are."""
    events: list[TouchpointEventBase] = []
    injected: dict[str, list[IncidentTruth]] = {}
    for week in range(-WARM_UP_WEEKS, DAYS // 7):
        cohort_start = START + timedelta(weeks=week)
        sim = simulate(COHORT, seed * 1000 + week + WARM_UP_WEEKS, COHORT_DAYS, cohort_start, JOURNEY_MAP,
                       b"incident-test-secret", scenario=scenario and _shifted(scenario, week * 7))
        events += sim.events()
        for truth in sim.truth.incidents:
            injected.setdefault(truth.name, []).append(truth)
    return Shop(events, [_merged(truths) for truths in injected.values()])


def _shifted(scenario: Scenario, offset_days: int) -> Scenario:
    """The scenario's incidents at the same dates, in days from a cohort's start."""
    shifted = []
    for spec in scenario.incidents:
        begin, end = max(0, spec.start_day - offset_days), spec.start_day + spec.days - offset_days
        if end > begin:
            shifted.append(spec.model_copy(update={"start_day": begin, "days": end - begin}))
    return Scenario(incidents=tuple(shifted))


def _merged(truths: list[IncidentTruth]) -> IncidentTruth:
    return truths[0].model_copy(update={"start": min(t.start for t in truths), "end": max(t.end for t in truths),
                                        "customers": sum(t.customers for t in truths),
                                        "events": sum(t.events for t in truths)})


def load(client: Client, shop: Shop) -> None:
    pipeline = Pipeline(JOURNEY_MAP)
    events = sorted(shop.events, key=lambda e: e.received_time)
    WarehouseWriter(client).write([r for event in events for r in pipeline.feed(event)])


def detect(client: Client) -> list[Incident]:
    query = IncidentQuery(start=START + timedelta(weeks=4), end=START + timedelta(days=DAYS), period="week",
                          dimensions=("device_type", "agent_team"))
    return find_incidents(client, query)


def matches(truth: IncidentTruth, found: Incident) -> bool:
    """Found at the injected touchpoint, for the injected value, within a week of its weeks."""
    slack = timedelta(weeks=1)
    return (found.touchpoint == truth.touchpoint and found.what == truth.what
            and f"{truth.dimension}={truth.value}" in (found.who, found.concentrated_in)
            and truth.start - slack <= found.start and found.end <= truth.end + slack)


def _figures(dsn: str, seed: int) -> str:
    lines = []
    for label, scenario in (("incidents", THREE_INCIDENTS), ("clean", None)):
        settings = Settings(clickhouse=ClickHouseSettings(dsn=dsn, database=f"inc_{uuid.uuid4().hex[:8]}"))
        client = connect(settings)
        migrate(client)
        began = time.monotonic()
        shop = steady_shop(seed, scenario)
        load(client, shop)
        found = detect(client)
        hits = [t.name for t in shop.incidents if any(matches(t, f) for f in found)]
        lines.append(f"seed {seed} {label}: {len(found)} incidents, injected found {hits}/"
                     f"{[(t.name, t.customers) for t in shop.incidents]} ({time.monotonic() - began:.0f} s)")
        lines += [f"    {f.start:%Y-%m-%d}..{f.end:%Y-%m-%d} {f.touchpoint} {f.what} {f.who} "
                  f"{f.concentrated_in} rate {f.rate} "
                  f"vs {f.baseline_rate} z {f.score}" for f in found]
        client.command(f"DROP DATABASE `{settings.clickhouse.database}`")
    return "\n".join(lines)


if __name__ == "__main__":
    warehouse = Path(f"/tmp/incident-figures-{uuid.uuid4().hex[:6]}")
    for arg in sys.argv[1:]:
        print(_figures(f"chdb://{warehouse}", int(arg)), flush=True)
