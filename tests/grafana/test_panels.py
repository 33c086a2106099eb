"""Every panel, variable and alert query, expanded as Grafana sends it, runs on chDB against a week
of pipeline-produced data, returns the columns its panel type needs, and is non-empty wherever
the data says it must be (for All, and for each single value of each variable it uses)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from grafana.alerts import ALERT_RULES
from grafana.boards import all_dashboards, incidents
from grafana.cases import ALL_SELECTED
from grafana.check import Outcome, check
from schemas.journeymap import load_journey_map
from schemas.outputs import DeadLetter, FrictionEvent, HealthSample, JourneySnapshot, JourneyStep
from tests.grafana.traffic import NOW, all_records

START = NOW - timedelta(days=7)
# The Incidents board judges months of periods per query: tests/grafana/test_incidents_board.py checks it
# on a shop with incidents, for All and two values, rather than for every value here.
DASHBOARDS = tuple(d for d in all_dashboards(load_journey_map()) if d.uid != incidents.UID)
Expected = dict[str, set[str]]  # variable name -> the values for which the panel must show rows


@pytest.fixture(scope="module")
def outcomes(warehouse: Client) -> list[Outcome]:
    return check(warehouse, DASHBOARDS, START, NOW)


def newest(records: Iterable[BaseModel], kind: type, key: str) -> list[Any]:
    latest: dict[str, BaseModel] = {}
    for record in records:
        if isinstance(record, kind):
            ident = getattr(record, key) if key != "event_id" else record.event.event_id  # type: ignore[attr-defined]
            if ident not in latest or latest[ident].version <= record.version:  # type: ignore[attr-defined]
                latest[ident] = record
    return [r for r in latest.values() if not getattr(r, "retracted", False)]


def ground_truth() -> dict[str, Expected]:
    """For each family of panels, the values of each variable that have data behind them."""
    records = all_records()
    journeys: list[JourneySnapshot] = newest(records, JourneySnapshot, "journey_id")
    steps: list[JourneyStep] = newest(records, JourneyStep, "event_id")
    frictions: list[FrictionEvent] = newest(records, FrictionEvent, "friction_id")
    segment_of = {j.journey_id: j.segment for j in journeys}
    touched: dict[str, set[str]] = defaultdict(set)
    for s in steps:
        touched[s.journey_id].add(s.event.touchpoint)
    placed = [s for s in steps if not s.late and s.journey_id in segment_of]
    rated = [s for s in placed if s.event.feedback and s.event.feedback.csat is not None]
    return {
        "journeys": {"channel": {c for j in journeys for c in j.channels}, "segment": {j.segment for j in journeys},
                     "touchpoint": {t for j in journeys for t in touched[j.journey_id]}},
        "friction": {"channel": {f.channel for f in frictions}, "touchpoint": {f.touchpoint for f in frictions},
                     "segment": {segment_of[f.journey_id] for f in frictions}},
        "touchpoints": {"channel": {s.event.channel for s in placed}, "touchpoint": {s.event.touchpoint for s in placed},
                        "segment": {segment_of[s.journey_id] for s in placed}},
        "feedback": {"channel": {s.event.channel for s in rated}, "segment": {segment_of[s.journey_id] for s in rated},
                     "touchpoint": {s.event.feedback.about_touchpoint or s.event.touchpoint  # type: ignore[union-attr]
                                    for s in rated}},
        "ingest": {"channel": {h.channel for h in records if isinstance(h, HealthSample) and h.stage == "simulator"}},
        "dead_letters": {"channel": {d.channel or "" for d in records if isinstance(d, DeadLetter)}},
        "stages": {"channel": {h.channel for h in records if isinstance(h, HealthSample) and h.stage == "simulator"}},
    }


FAMILY = {
    "Journey funnel": "journeys", "Friction": "friction", "Experience map": "touchpoints",
    "Touchpoint scorecard": "touchpoints",
}
PANEL_FAMILY = {
    "Friction by touchpoint": "friction", "Friction": "friction", "CSAT by touchpoint": "feedback", "CSAT": "feedback",
    "Emotion curve across phases": "feedback", "Events per second by channel": "ingest",
    "Dead letters": "dead_letters", "Dead-letter reasons": "dead_letters", "Active and stalled journeys": "journeys",
    "Consumer lag": "stages", "End-to-end latency": "stages", "Errors and retries": "stages",
}


def family(dashboard_title: str, panel_title: str) -> str:
    return PANEL_FAMILY.get(panel_title) or FAMILY[dashboard_title]


def test_every_query_runs_and_fits_its_panel(outcomes: list[Outcome]) -> None:
    failures = [f"{o.case.where()}: {'; '.join(o.problems)}" for o in outcomes if not o.ok]
    assert not failures, "\n".join(failures)


def test_every_panel_is_checked_for_all_and_each_value(outcomes: list[Outcome]) -> None:
    checked = {(o.case.dashboard, o.case.panel, o.case.selection) for o in outcomes}
    for dashboard in DASHBOARDS:
        for panel in dashboard.panels:
            assert (dashboard.uid, panel.title, ALL_SELECTED) in checked
    assert ("journeys-friction", "Friction over time by rule", "touchpoint=web.checkout") in checked
    assert ("journeys-funnel", "Conversion by segment", "segment=loyal") in checked


def test_every_panel_shows_data_with_all_selected(outcomes: list[Outcome]) -> None:
    # The week's traffic carries no context: the dimension variables rightly offer nothing.
    dimensions = {f"${name}" for name in load_journey_map().dimension_names}
    empty = [o.case.where() for o in outcomes if o.case.selection == ALL_SELECTED and not o.rows
             and not (o.case.kind == "variable" and o.case.panel in dimensions)]
    assert not empty, f"empty although the week has data: {empty}"


def test_single_values_show_data_where_the_data_has_some(outcomes: list[Outcome]) -> None:
    truth, titles = ground_truth(), {d.uid: d.title for d in DASHBOARDS}
    missing, asserted = [], 0
    for o in outcomes:
        if o.case.kind in ("variable", "alert") or o.case.selection == ALL_SELECTED:
            continue
        name, value = o.case.selection.split("=", 1)
        if value in truth[family(titles[o.case.dashboard], o.case.panel)].get(name, set()):
            asserted += 1
            if not o.rows:
                missing.append(o.case.where())
    assert not missing, f"empty although the data has rows for the selection: {missing}"
    assert asserted > 300


def test_variables_offer_the_values_in_the_data(outcomes: list[Outcome]) -> None:
    offered = {(o.case.dashboard, o.case.panel): {str(r[0]) for r in o.rows} for o in outcomes if o.case.kind == "variable"}
    truth = ground_truth()["touchpoints"]
    assert offered[("journeys-friction", "$channel")] == truth["channel"] == {"web", "call_centre", "email", "store"}
    assert offered[("journeys-friction", "$touchpoint")] >= truth["touchpoint"]
    assert offered[("journeys-funnel", "$segment")] == {"bargain_hunter", "loyal", "new"}


def test_alert_queries_return_one_value(outcomes: list[Outcome]) -> None:
    alerts = {o.case.panel: o for o in outcomes if o.case.kind == "alert"}
    assert set(alerts) == {rule.title for rule in ALERT_RULES}
    assert all(o.ok and len(o.rows) == 1 for o in alerts.values())
    # The traffic's worker lag climbs to 20 x 119 messages in the last minutes; 12 dead letters
    # in the last 10 minutes over 150 ingested a minute stay under the 1 % threshold.
    assert alerts["Consumer lag"].rows[0][0] == 20 * 119
    assert 0 < float(alerts["Dead-letter rate"].rows[0][0]) < 1  # type: ignore[arg-type]


def test_panels_show_the_numbers_of_the_data(outcomes: list[Outcome]) -> None:
    all_rows = {(o.case.dashboard, o.case.panel): o.rows for o in outcomes if o.case.selection == ALL_SELECTED}
    journeys = newest(all_records(), JourneySnapshot, "journey_id")
    reached: dict[object, object] = {row[0]: row[1] for row in all_rows[("journeys-funnel", "Journeys reaching each phase")]}
    assert reached["research"] == len(journeys)
    assert reached["purchase"] == sum(j.converted for j in journeys)
    frictions = newest(all_records(), FrictionEvent, "friction_id")
    by_rule: dict[object, int] = defaultdict(int)
    for row in all_rows[("journeys-friction", "Friction over time by rule")]:
        by_rule[row[1]] += int(row[2])  # type: ignore[call-overload]
    assert dict(by_rule) == {r: sum(f.rule == r for f in frictions) for r in {f.rule for f in frictions}}
