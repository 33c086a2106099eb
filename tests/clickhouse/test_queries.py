"""The writer lands the scenario's records, and every named query returns the hand-computed numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.queries import QUERIES, Filters, run
from clickhouse.sink import WarehouseWriter
from schemas.outputs import HealthSample
from tests.clickhouse import scenario as s
from tests.clickhouse.scenario import PHASES, T0


@pytest.fixture
def loaded(warehouse: Client) -> Client:
    writer = WarehouseWriter(warehouse)
    half = len(s.RECORDS) // 2
    writer.write(s.RECORDS[half:])  # newer versions of some ids land before older ones
    writer.write(s.RECORDS[:half])
    return warehouse


def query(client: Client, name: str, **filters: Any) -> list[dict[str, Any]]:
    return run(client, name, Filters(**filters), PHASES).as_dicts()


def test_funnel_counts_reached_at_or_beyond_and_hides_the_retracted_journey(loaded: Client) -> None:
    rows = query(loaded, "funnel")
    got = [(r["phase"], r["journeys"], r["share_of_start"], r["from_previous"], r["dropped_off"],
            r["avg_hours_to_convert"]) for r in rows]
    assert got == s.FUNNEL


def test_funnel_filters_by_segment_channel_and_period(loaded: Client) -> None:
    student = {r["phase"]: (r["journeys"], r["dropped_off"]) for r in query(loaded, "funnel", segment="student")}
    assert student == {"research": (2, 0), "compare": (2, 1), "purchase": (1, 1), "after_sales": (0, 0)}
    store = {r["phase"]: r["journeys"] for r in query(loaded, "funnel", channel="store")}
    assert store == {"research": 2, "compare": 2, "purchase": 1, "after_sales": 0}  # b and c
    later = {r["phase"]: r["journeys"] for r in query(loaded, "funnel", start=T0 + s.D)}
    assert later == {"research": 3, "compare": 3, "purchase": 2, "after_sales": 0}  # b, c, d


def test_funnel_by_dimension(loaded: Client) -> None:
    by_segment = {(r["segment"], r["phase"]): r["journeys"] for r in query(loaded, "funnel_by_segment")}
    assert by_segment[("family", "after_sales")] == 1
    assert by_segment[("student", "compare")] == 2
    assert by_segment[("unknown", "purchase")] == 1
    assert sum(v for (_, phase), v in by_segment.items() if phase == "research") == 4
    by_channel = {(r["first_channel"], r["phase"]): r["journeys"] for r in query(loaded, "funnel_by_channel")}
    assert by_channel == {("web", p): n for p, n in zip(PHASES, (4, 4, 3, 1), strict=True)}
    by_period = query(loaded, "funnel_by_period")
    assert {str(r["period"]) for r in by_period} == {"2024-03-01"}


def test_friction_top_counts_current_frictions_once(loaded: Client) -> None:
    rows = query(loaded, "friction_top")
    got = [(r["touchpoint"], r["rule"], r["frictions"], r["customers"]) for r in rows]
    assert got == [
        ("call_centre.support", "long_wait", 1, 1), ("call_centre.support", "low_csat", 1, 1),
        ("call_centre.support", "transfers", 1, 1), ("store.floor", "long_queue", 1, 1),
        ("web.checkout", "abandoned_checkout", 1, 1), ("web.product", "poor_navigation", 1, 1),
    ]
    assert {r["share_of_frictions"] for r in rows} == {0.1667}
    assert len(query(loaded, "friction_top", limit=2)) == 2
    assert [r["rule"] for r in query(loaded, "friction_top", segment="student")] == [
        "long_queue", "abandoned_checkout"]
    assert [r["rule"] for r in query(loaded, "friction_top", channel="web")] == [
        "abandoned_checkout", "poor_navigation"]


def test_friction_over_time_per_day(loaded: Client) -> None:
    rows = query(loaded, "friction_over_time")
    got = [(str(r["day"]), r["rule"], r["frictions"]) for r in rows]
    assert got == [("2024-03-02", "long_queue", 1), ("2024-03-03", "long_wait", 1), ("2024-03-03", "low_csat", 1),
                   ("2024-03-03", "transfers", 1), ("2024-03-04", "poor_navigation", 1),
                   ("2024-03-05", "abandoned_checkout", 1)]


def test_touchpoint_scorecard_has_each_channels_measures(loaded: Client) -> None:
    card = {(r["touchpoint"], r["kpi"]): r["value"] for r in query(loaded, "touchpoint_scorecard")}
    expected = {
        ("web.content", "avg_time_on_page_s"): 30, ("web.compare", "avg_navigation_ease"): 4,
        ("web.product", "avg_navigation_ease"): 1, ("web.checkout", "events"): 3,
        ("web.checkout", "customers"): 2, ("web.checkout", "online_sales"): 1,
        ("web.checkout", "checkout_abandonment_rate"): 0.5, ("web.search", "online_sales"): 0,
        ("call_centre.support", "avg_wait_s"): 400, ("call_centre.support", "transfer_rate"): 1,
        ("call_centre.support", "first_contact_resolution"): 0, ("call_centre.sales", "first_contact_resolution"): 1,
        ("call_centre.sales", "transfer_rate"): 0, ("call_centre.support", "csat_avg"): 2,
        ("call_centre.support", "csat_responses"): 1, ("call_centre.support", "nps"): -100,
        ("email.support", "bounces"): 0, ("store.floor", "store_visits"): 1,
        ("store.floor", "avg_queue_wait_s"): 700, ("store.checkout", "store_purchases"): 1,
        ("store", "store_conversion"): 1,
    }
    assert {key: card.get(key) for key in expected} == expected
    assert ("web.content", "avg_wait_s") not in card  # measures of other channels are absent, not zero
    only = {r["touchpoint"] for r in query(loaded, "touchpoint_scorecard", touchpoint="web.checkout")}
    assert only == {"web.checkout"}


def test_journey_health(loaded: Client) -> None:
    health = {r["metric"]: r["value"] for r in query(loaded, "journey_health")}
    assert health == {"journeys_active": 3, "journeys_stalled": 1, "journeys_closed": 0, "dead_letters": 1,
                      "events": 15, "lag_max": 5, "latency_ms_p50_avg": 15, "latency_ms_p95_max": 80,
                      "sink_errors": 0, "sink_retries": 0}


def test_experience_map_cells(loaded: Client) -> None:
    cells = {(r["phase"], r["touchpoint"]): r for r in query(loaded, "experience_map")}
    assert len(cells) == 11
    support = cells[("after_sales", "call_centre.support")]
    assert (support["steps"], support["customers"], support["share_of_customers"], support["frictions"],
            support["friction_rate"], support["top_friction_rule"], support["avg_csat"]) == (
        1, 1, 0.25, 3, 3.0, "long_wait", 2.0)
    checkout = cells[("purchase", "web.checkout")]
    assert (checkout["steps"], checkout["customers"], checkout["share_of_customers"], checkout["frictions"],
            checkout["friction_rate"], checkout["top_friction_rule"], checkout["avg_csat"]) == (
        3, 2, 0.5, 1, 0.3333, "abandoned_checkout", None)
    product = cells[("research", "web.product")]
    assert (product["customers"], product["frictions"]) == (1, 1)  # c's step counted once, under cust-c
    assert next(iter(cells))[0] == "research" and list(cells)[-1][0] == "after_sales"


INJECTIONS = ["x' OR 1=1 --", "'; DROP TABLE journeys; --", "{segment:String}", "\\' OR ''='", "web) OR (1=1"]


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_filters_are_bound_parameters_never_sql(loaded: Client, name: str) -> None:
    before = {q: query(loaded, q) for q in ("funnel", "friction_top")}
    for attempt in INJECTIONS:
        for field in {"channel", "segment", "touchpoint"} & set(QUERIES[name].filters):
            rows = query(loaded, name, **{field: attempt})
            if name != "journey_health":
                assert rows == [] or all(r.get("journeys", 0) == 0 for r in rows), (field, attempt)
    assert {q: query(loaded, q) for q in before} == before
    assert loaded.query("SELECT count() FROM journeys").result_rows[0][0] > 0


def test_a_friction_whose_detection_time_moves_is_counted_once(warehouse: Client) -> None:
    march = s.friction("f-mail", "cust-e", "j-e", "email_unanswered", "email.support", "after_sales",
                       datetime(2024, 3, 31, 23, tzinfo=UTC), 1)
    april = march.model_copy(update={"detected_at": datetime(2024, 4, 1, 9, tzinfo=UTC), "version": 2})
    WarehouseWriter(warehouse).write([april])
    WarehouseWriter(warehouse).write([march])
    rows = query(warehouse, "friction_over_time")
    assert [(str(r["day"]), r["frictions"]) for r in rows] == [("2024-04-01", 1)]


def test_experience_map_keeps_a_friction_cell_without_steps(loaded: Client) -> None:
    # a low CSAT about the checkout given after the sale: the checkout has no step in after_sales
    WarehouseWriter(loaded).write([s.friction("f-after", "cust-a", "j-a", "low_csat", "web.checkout", "after_sales",
                                              s.T0 + 2 * s.D + 2 * s.H, 1)])
    cells = {(r["phase"], r["touchpoint"]): r for r in query(loaded, "experience_map")}
    after = cells[("after_sales", "web.checkout")]
    assert (after["steps"], after["customers"], after["share_of_customers"], after["frictions"],
            after["friction_rate"], after["top_friction_rule"]) == (0, 0, 0.0, 1, None, "low_csat")
    assert len(cells) == 12
    only = query(loaded, "experience_map", touchpoint="web.checkout")
    assert [(r["phase"], r["steps"], r["frictions"]) for r in only] == [("purchase", 3, 1), ("after_sales", 0, 1)]


def test_health_minutes_of_several_workers_add_up_and_a_replay_replaces(warehouse: Client) -> None:
    minute = datetime(2024, 3, 1, 9, 5, tzinfo=UTC)
    first, second = (HealthSample(minute=minute, stage="worker", channel="web", events=n, reporter=f"host:{pid}")
                     for n, pid in ((120, 11), (80, 12)))
    writer = WarehouseWriter(warehouse)
    writer.write([first, second])
    writer.write([first])  # the same sample read again from pipeline.health
    total = warehouse.query("SELECT sum(events) FROM pipeline_health FINAL WHERE stage = 'worker'").result_rows
    assert total == [(200,)]
