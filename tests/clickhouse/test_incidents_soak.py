"""The incidents' acceptance matrix: 26 simulated weeks, three incidents of three kinds, three seeds.

The simulator injects (tests/clickhouse/simulated_incidents.py, LONG_INCIDENTS): payment errors at
checkout on mobile, a loop between two checkout steps on desktop (three weeks), long call waits at
the support team. `journeys incidents` must find every one with its weeks (+/- 1 at both ends) and
its dimension value; the same shop without the scenario must yield at most one incident. A run
takes a minute or two per seed, hence `-m soak` (`make soak`); the twelve-week case of
test_incidents_simulated.py keeps the same path in `make test`. The rates measured are in
bench/RESULTS.md ("Incident detection").
"""

from __future__ import annotations

import pytest

from tests.clickhouse.simulated_incidents import LONG_DAYS, LONG_INCIDENTS, matches, steady_shop
from tests.clickhouse.test_incidents_simulated import incidents, loaded

SEEDS = (1, 2, 3)


@pytest.mark.soak
@pytest.mark.parametrize("seed", SEEDS)
def test_every_injected_incident_is_found_in_26_weeks(seed: int, warehouse_dsn: str) -> None:
    shop = steady_shop(seed, LONG_INCIDENTS, LONG_DAYS)
    assert len({t.kind for t in shop.incidents}) == 3 and all((t.customers or 0) >= 10 for t in shop.incidents)
    for settings in loaded(shop, warehouse_dsn):
        found = incidents(settings, LONG_DAYS)
        missed = [t.name for t in shop.incidents if not any(matches(t, f) for f in found)]
        assert not missed, found


@pytest.mark.soak
@pytest.mark.parametrize("seed", SEEDS)
def test_a_clean_26_weeks_yields_at_most_one_incident(seed: int, warehouse_dsn: str) -> None:
    for settings in loaded(steady_shop(seed, None, LONG_DAYS), warehouse_dsn):
        found = incidents(settings, LONG_DAYS)
        assert len(found) <= 1, found
