"""The `where` filter reads the newest version of each event; breakdowns without a value make one group.

An event that a re-cut moved to another journey leaves its older version behind in `touchpoints`
until the parts merge; a filter that read every version counted the old journey as carrying the
moved event's dimension value. Rows are written as the sink leaves them after such a re-cut.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from clickhouse.analyses.incidents import IncidentQuery, counts
from clickhouse.analyses.named import Extra, run_analysis
from clickhouse.queries import Filters

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
COLUMNS = ["event_id", "event_time", "received_time", "channel", "touchpoint", "event_type", "customer_id",
           "journey_id", "phase", "segment", "late", "version", "measures_json", "context"]


def _row(event_id: str, hours: int, step: str, journey: str, device: str, version: int) -> list[object]:
    touchpoint, event_type = step.split(":")
    at = T0 + timedelta(hours=hours)
    return [event_id, at, at, "web", touchpoint, event_type, "c-1", journey, "research", "", False, version, "{}",
            {"device_type": device}]


def recut(warehouse: Client) -> Client:
    """J1: a desktop product view, a mobile checkout step, a desktop compare; the checkout step then moved
    to J2 (version 2), where a mobile product view follows it."""
    rows = [_row("e1", 0, "web.product:product_view", "J1", "desktop", 1),
            _row("e2", 1, "web.checkout:checkout_step", "J1", "mobile", 1),
            _row("e4", 3, "web.compare:compare", "J1", "desktop", 1),
            _row("e3", 2, "web.product:product_view", "J2", "mobile", 1)]
    warehouse.insert("touchpoints", rows, column_names=COLUMNS)
    warehouse.insert("touchpoints", [_row("e2", 1, "web.checkout:checkout_step", "J2", "mobile", 2)],
                     column_names=COLUMNS)  # a separate part: the old version stays until a merge
    return warehouse


FILTERS = Filters(start=T0 - timedelta(days=1), end=T0 + timedelta(days=1), where_dim="device_type",
                  where_value="mobile", limit=100)


def test_paths_where_a_value_count_only_journeys_that_carry_it_now(warehouse: Client) -> None:
    rows = run_analysis(recut(warehouse), "paths", FILTERS, Extra(anchor="", depth=5)).rows
    assert [(r[2], r[3], r[4]) for r in rows] == [("web.checkout:checkout_step", "web.product:product_view", 1)]


def test_funnels_where_a_value_count_only_journeys_that_carry_it_now(warehouse: Client) -> None:
    steps = ("web.product:product_view", "web.compare:compare")
    rows = run_analysis(recut(warehouse), "step_funnel", FILTERS, Extra(steps=steps, within_s=86_400)).rows
    assert [(r[3], r[4]) for r in rows] == [("web.product:product_view", 1)]  # J2's view; J1 was never mobile now


def test_incident_counts_where_a_value_count_only_frictions_of_journeys_that_carry_it_now(warehouse: Client) -> None:
    """A friction on each journey: with `where device_type=mobile`, J1's no longer counts (its mobile step moved)."""
    columns = ["friction_id", "customer_id", "journey_id", "rule", "touchpoint", "channel", "phase", "severity",
               "detected_at", "evidence", "evidence_context", "evidence_context_known", "version"]
    recut(warehouse).insert("friction", [
        [f"f-{journey}", "c-1", journey, "poor_navigation", "web.product", "web", "research", "low", at, [event],
         {"device_type": [device]}, True, 1]
        for journey, event, at, device in (("J1", "e1", T0, "desktop"), ("J2", "e3", T0 + timedelta(hours=2), "mobile"))],
        column_names=columns)
    query = IncidentQuery(start=FILTERS.start, end=FILTERS.end, period="day", dimensions=("device_type",),
                          filters=FILTERS)
    frictions = [(c.what, c.who, c.numerator) for c in counts(warehouse, query) if c.family == "friction"]
    assert sorted(frictions) == [("poor_navigation", "*", 1), ("poor_navigation", "device_type=mobile", 1)]


def test_a_breakdown_value_of_nothing_and_of_an_empty_value_is_one_group(warehouse: Client) -> None:
    """A journey without the dimension and one whose value is '' both break down as '' (one row, as before)."""
    row = _row("x1", 0, "web.product:product_view", "J3", "", 1)
    bare = [*_row("x3", 0, "web.product:product_view", "J4", "", 1)[:-1], {}]
    later = [_row("x2", 1, "web.compare:compare", "J3", "", 1),
             [*_row("x4", 1, "web.compare:compare", "J4", "", 1)[:-1], {}]]
    warehouse.insert("touchpoints", [row, bare, *later], column_names=COLUMNS)
    filters = Filters(start=T0 - timedelta(days=1), end=T0 + timedelta(days=1), limit=100)
    rows = run_analysis(warehouse, "paths", filters, Extra(anchor="", depth=2, by="device_type")).rows
    assert [(r[0], r[2], r[3], r[4], r[6]) for r in rows] == [("", "web.product:product_view", "web.compare:compare",
                                                                2, 1.0)]
