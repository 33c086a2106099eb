"""Dashboards as code: the committed files are a fresh build, and every panel speaks the plugin's
target format, filters by the variables it should, and is laid out on the grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from grafana.alerts import ALERT_RULES, alert_rules
from grafana.boards import all_dashboards
from grafana.export import GRAFANA_DIR, build, rendered_files
from grafana.model import DATASOURCE_UID, GRID_COLUMNS, Dashboard
from schemas.journeymap import load_journey_map

DASHBOARDS = all_dashboards(load_journey_map())


def test_committed_files_equal_a_fresh_build() -> None:
    for relative, content in rendered_files(load_journey_map()).items():
        committed = GRAFANA_DIR / relative
        assert committed.exists(), f"{relative} is not committed: run `journeys grafana build`"
        assert committed.read_text(encoding="utf-8") == content, f"{relative} is stale: run `journeys grafana build`"


def test_build_writes_every_file_and_is_stable(tmp_path: Path) -> None:
    first = {p: p.read_text() for p in build(load_journey_map(), tmp_path)}
    second = {p: p.read_text() for p in build(load_journey_map(), tmp_path)}
    assert first == second
    assert {p.name for p in first} >= {f"{d.uid}.json" for d in DASHBOARDS} | {"clickhouse.yaml", "journeys.yaml"}


def test_six_dashboards_with_unique_uids() -> None:
    assert [d.title for d in DASHBOARDS] == ["Journey funnel", "Friction", "Touchpoint scorecard",
                                             "Live journey health", "Experience map", "Incidents"]
    assert len({d.uid for d in DASHBOARDS}) == 6


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)
def test_targets_use_the_plugin_fields(dashboard: Dashboard) -> None:
    doc = json.loads(json.dumps(dashboard.to_json()))
    for panel in doc["panels"]:
        for target in panel["targets"]:
            assert target["editorType"] == "sql" and isinstance(target["format"], int)
            assert target["datasource"] == {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID}
            assert target["queryType"] == ("timeseries" if panel["type"] == "timeseries" else "table")
            assert target["format"] == (0 if panel["type"] == "timeseries" else 1)
            sql = target["rawSql"]  # the time filter macro, or the range's two ends (a half-open window)
            assert "$__timeFilter(" in sql or ("$__fromTime" in sql and "$__toTime" in sql), (
                f"{panel['title']} ignores the time range")


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)
def test_variables_are_multi_value_with_all_and_used(dashboard: Dashboard) -> None:
    doc = dashboard.to_json()
    names = [v["name"] for v in doc["templating"]["list"]]
    dimensions = set(load_journey_map().dimension_names)
    assert set(names) <= {"channel", "touchpoint", "segment"} | dimensions and "channel" in names
    assert dimensions <= set(names), "every dashboard offers every context dimension of the map"
    for variable in doc["templating"]["list"]:
        assert variable["multi"] and variable["includeAll"] and "allValue" not in variable
        assert any(f"${variable['name']}" in t["rawSql"] for p in doc["panels"] for t in p["targets"])


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)
def test_panels_fit_the_grid_without_overlap(dashboard: Dashboard) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard.to_json()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= GRID_COLUMNS
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_live_health_refreshes_every_10_seconds() -> None:
    assert {d.uid: d.refresh for d in DASHBOARDS}["journeys-health"] == "10s"


def test_versioned_tables_are_read_as_they_stand_now() -> None:
    for dashboard in DASHBOARDS:
        for panel in dashboard.panels:
            for target in panel.targets:
                for table in ("journeys", "friction"):
                    if f"FROM {table}" in target.sql:
                        assert f"FROM {table} FINAL" in target.sql, panel.title
                        assert "retracted = 0" in target.sql or "NOT retracted" in target.sql, panel.title


def test_provisioning_files() -> None:
    files = {k: yaml.safe_load(v) for k, v in rendered_files(load_journey_map()).items() if k.endswith(".yaml")}
    source = files["provisioning/datasources/clickhouse.yaml"]["datasources"][0]
    assert source["type"] == "grafana-clickhouse-datasource" and source["uid"] == DATASOURCE_UID
    assert source["jsonData"]["username"] == "grafana_ro"
    assert source["secureJsonData"]["password"] == "$GRAFANA_CLICKHOUSE_RO_PASSWORD"
    provider = files["provisioning/dashboards/journeys.yaml"]["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/journeys"
    rules = files["provisioning/alerting/journeys.yaml"]["groups"][0]["rules"]
    assert [r["uid"] for r in rules] == [r.uid for r in alert_rules(load_journey_map())]
    assert [r.uid for r in ALERT_RULES] == [r["uid"] for r in rules][:3]
    for rule in rules:
        query = rule["data"][0]["model"]
        assert rule["condition"] == "C" and query["format"] == 1 and "$__timeFilter(" in query["rawSql"]
        assert "$__conditionalAll" not in query["rawSql"] and "${" not in query["rawSql"]
