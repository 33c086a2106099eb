"""A simulated shop with incidents, loaded into a warehouse: the test bed of the incident analyses.

The simulator writes `CUSTOMERS` people over `DAYS` days with a scenario's incidents; the events
go through the real stream core (identity, stitching, friction) and the warehouse writer. Used by
tests/clickhouse/test_analyses_simulated.py and, for detection figures over seeds, run as a script:
`python -m tests.clickhouse.simulated_incidents [--weeks 26] SEED...`. Twelve weeks with two incidents
is the quick case of `make test`; 26 weeks with three incidents of three kinds over three seeds is
the acceptance matrix (`-m soak`).
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
LONG_DAYS = 182  # 26 weeks: the acceptance run
JUDGED_FROM_WEEK = 4  # the detector needs four baseline weeks
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


# 26 weeks: three kinds, apart, each on its own dimension value (loop and errors on the web, waits on calls).
LONG_INCIDENTS = Scenario(incidents=(
    IncidentSpec(name="mobile_pay_errors", kind="checkout_errors", start_day=49, days=14,
                 where={"device_type": "mobile"}, share=0.6),
    IncidentSpec(name="desktop_loop", kind="checkout_loop", start_day=91, days=21,
                 where={"device_type": "desktop"}, share=0.5),
    IncidentSpec(name="support_waits", kind="long_call_waits", start_day=140, days=14,
                 where={"agent_team": "team-support"}, share=0.8),
))


def steady_shop(seed: int, scenario: Scenario | None, days: int = DAYS) -> Shop:
    """One simulation per weekly cohort, from `WARM_UP_WEEKS` before START: one simulation's
    customers all arrive in its first days, so its weeks differ by the customers' age; cohorts
    arriving every week make the shop's weeks alike, as a real shop's are."""
    events: list[TouchpointEventBase] = []
    injected: dict[str, list[IncidentTruth]] = {}
    for week in range(-WARM_UP_WEEKS, days // 7):
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


def detect(client: Client, days: int = DAYS) -> list[Incident]:
    query = IncidentQuery(start=START + timedelta(weeks=JUDGED_FROM_WEEK), end=START + timedelta(days=days),
                          period="week",
                          dimensions=("device_type", "agent_team"))
    return find_incidents(client, query)


def matches(truth: IncidentTruth, found: Incident) -> bool:
    """Found at the injected touchpoint, for the injected value, starting and ending within a week
    of the injected weeks (a found incident's `end` is the start of its last weekly period)."""
    slack, week = timedelta(weeks=1), timedelta(weeks=1)
    return (found.touchpoint == truth.touchpoint and found.what == truth.what
            and f"{truth.dimension}={truth.value}" in (found.who, found.concentrated_in)
            and abs(found.start - truth.start) <= slack and abs(found.end + week - truth.end) <= slack)


def _figures(dsn: str, seed: int, weeks: int) -> str:
    days, scenario = (LONG_DAYS, LONG_INCIDENTS) if weeks == LONG_DAYS // 7 else (DAYS, THREE_INCIDENTS)
    lines = []
    for label, injected in (("incidents", scenario), ("clean", None)):
        settings = Settings(clickhouse=ClickHouseSettings(dsn=dsn, database=f"inc_{uuid.uuid4().hex[:8]}"))
        client = connect(settings)
        migrate(client)
        began = time.monotonic()
        shop = steady_shop(seed, injected, days)
        load(client, shop)
        found = detect(client, days)
        hits = [t.name for t in shop.incidents if any(matches(t, f) for f in found)]
        lines.append(f"seed {seed} {weeks} weeks {label}: {len(found)} incidents, injected found {hits}/"
                     f"{[(t.name, t.customers) for t in shop.incidents]} ({time.monotonic() - began:.0f} s)")
        lines += [f"    {f.start:%Y-%m-%d}..{f.end:%Y-%m-%d} {f.touchpoint} {f.what} {f.who} "
                  f"{f.concentrated_in} rate {f.rate} "
                  f"vs {f.baseline_rate} z {f.score}" for f in found]
        client.command(f"DROP DATABASE `{settings.clickhouse.database}`")
    return "\n".join(lines)


if __name__ == "__main__":
    warehouse = Path(f"/tmp/incident-figures-{uuid.uuid4().hex[:6]}")
    args = sys.argv[1:]
    weeks = int(args[args.index("--weeks") + 1]) if "--weeks" in args else DAYS // 7
    seeds = [int(a) for i, a in enumerate(args) if a != "--weeks" and (i == 0 or args[i - 1] != "--weeks")]
    for seed in seeds:
        print(_figures(f"chdb://{warehouse}", seed, weeks), flush=True)
