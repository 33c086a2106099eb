"""The experience map's period comparison on simulated incidents: coloured by the test, named by who.

Twelve weeks of the steady simulated shop of the incident tests (tests/clickhouse/
simulated_incidents.py) with long call waits injected at the support team for two weeks. The map
of those two weeks against the three weeks before must colour the support line's cell worse by
the friction test and name agent_team=team-support as where the change concentrates; a cell no
incident touched stays "same" whatever its raw delta.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from clickhouse.client import connect
from grafana.experience_map.model import Comparison
from grafana.experience_map.service import MapRequest, draw_from
from tests.clickhouse.simulated_incidents import JOURNEY_MAP, TWO_INCIDENTS, steady_shop
from tests.clickhouse.test_incidents_simulated import loaded

SEED = 2
SUPPORT = ("after_sales", "call_centre.support")


@pytest.fixture(scope="module")
def waits(warehouse_dsn: str) -> Iterator[Comparison]:
    shop = steady_shop(SEED, TWO_INCIDENTS)
    truth = next(t for t in shop.incidents if t.name == "support_waits")
    request = MapRequest(start=truth.start, end=truth.end, compare_start=truth.start - timedelta(weeks=3),
                         compare_end=truth.start)
    for settings in loaded(shop, warehouse_dsn):
        comparison = draw_from(connect(settings), JOURNEY_MAP, request)[1]
        assert comparison is not None
        yield comparison


def test_the_support_line_is_worse_by_the_test_and_named_by_its_team(waits: Comparison) -> None:
    change = waits.changes[SUPPORT]
    assert change.verdict == "worse" and change.friction_z >= 3, change
    assert change.concentrated_in == "agent_team=team-support"


def test_cells_no_incident_touched_are_not_coloured_by_noise(waits: Comparison) -> None:
    coloured = {key: c.verdict for key, c in waits.changes.items()
                if c.verdict in ("worse", "better") and key[1] not in ("call_centre.support", "web.checkout")}
    assert not coloured, [c for c in waits.changes.values() if (c.phase, c.touchpoint) in coloured]
