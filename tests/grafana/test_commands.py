"""The `journeys grafana` commands on a real warehouse, and the deploy plan."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml
from click.testing import CliRunner
from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

from foundation.settings import ClickHouseSettings, Settings
from grafana.alerts import FOLDER_UID, alert_rules
from grafana.deploy import ClickHouseConnection, plan
from grafana.export import GRAFANA_DIR
from journeys.commands.dashboards import grafana_group
from schemas.journeymap import load_journey_map
from tests.grafana.traffic import NOW

WEEK_ENDING_NOW = ["--to", NOW.strftime("%Y-%m-%d %H:%M:%S"), "--days", "7"]


def test_check_passes_on_the_migrated_warehouse(warehouse: Client, dashboard_settings: Settings) -> None:
    result = CliRunner().invoke(grafana_group, ["check", *WEEK_ENDING_NOW, "--verbose"], obj=dashboard_settings)
    assert result.exit_code == 0, result.output
    for rule in alert_rules(load_journey_map()):  # the map's rules too: "New incident"
        assert f"ok alerting / {rule.title} " in result.output, rule.title
    summary = result.output.strip().splitlines()[-1]
    checked, failed = summary.split(" queries checked, ")
    assert int(checked) > 400 and failed.startswith("0 failed, "), summary


def test_check_names_the_failing_panels_and_exits_non_zero(warehouse_dsn: str) -> None:
    empty = Settings(clickhouse=ClickHouseSettings(dsn=warehouse_dsn, database=f"nothing_{uuid.uuid4().hex[:8]}"))
    result = CliRunner().invoke(grafana_group, ["check", *WEEK_ENDING_NOW], obj=empty)
    assert result.exit_code == 1
    assert "FAILED journeys-funnel / $channel [All]" in result.output
    assert "FAILED alerting / Consumer lag" in result.output and "UNKNOWN_TABLE" in result.output


def test_build_writes_what_is_committed(tmp_path: Path, dashboard_settings: Settings) -> None:
    result = CliRunner().invoke(grafana_group, ["build", "--out", str(tmp_path)], obj=dashboard_settings)
    assert result.exit_code == 0, result.output
    written = [Path(line) for line in result.output.split()]
    assert len(written) == 9  # six dashboards, three provisioning files
    for path in written:
        assert (GRAFANA_DIR / path.relative_to(tmp_path)).read_text() == path.read_text()


def test_deploy_plan_upserts_everything_by_uid() -> None:
    connection = ClickHouseConnection(host="ch.internal", port=8443, password=SecretStr("s3cret"), secure=True)
    first, second = (plan(load_journey_map(), connection) for _ in range(2))
    assert first == second
    assert [d["dashboard"]["uid"] for d in first.dashboards] == [
        "journeys-funnel", "journeys-friction", "journeys-scorecard", "journeys-health", "journeys-experience-map",
        "journeys-incidents"]
    assert all(d["folderUid"] == FOLDER_UID and d["overwrite"] for d in first.dashboards)
    source = first.datasource
    assert source["jsonData"] | {"host": "ch.internal", "port": 8443, "secure": True} == source["jsonData"]
    assert source["secureJsonData"] == {"password": "s3cret"} and source["jsonData"]["username"] == "grafana_ro"
    rules = first.rule_group["rules"]
    assert [r["uid"] for r in rules] == [r.uid for r in alert_rules(load_journey_map())]
    assert all(r["folderUID"] == FOLDER_UID and "dashboardUid" not in r for r in rules)
    assert rules[1]["annotations"]["__dashboardUid__"] == "journeys-health"
    assert rules[3]["annotations"]["__dashboardUid__"] == "journeys-incidents"


def test_provisioned_password_is_left_to_grafana_env_interpolation() -> None:
    text = (GRAFANA_DIR / "provisioning/datasources/clickhouse.yaml").read_text()
    assert yaml.safe_load(text)["datasources"][0]["secureJsonData"]["password"] == "$GRAFANA_CLICKHOUSE_RO_PASSWORD"
