"""Deploy to a real Grafana (testcontainers), twice, then read everything back.

Runs where a Docker engine answers; skipped with the reason otherwise (this machine has none).
"""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from grafana.alerts import ALERT_RULES, FOLDER_UID
from grafana.boards import all_dashboards
from grafana.deploy import ClickHouseConnection, apply, plan
from schemas.journeymap import load_journey_map
from tests.docker import docker_engine_answers

GRAFANA_IMAGE = "grafana/grafana:11.6.0"
STARTUP_TIMEOUT_S = 180


pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(not docker_engine_answers(), reason="no Docker engine answers on this machine; "
                       "the deploy plan is checked by test_commands.py"),
]


def wait_for_grafana(api: object) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            api.health.check()  # type: ignore[attr-defined]
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_deploy_twice_then_read_the_dashboards_back() -> None:
    from grafana_client import GrafanaApi
    from testcontainers.core.container import DockerContainer

    container = (DockerContainer(GRAFANA_IMAGE).with_exposed_ports(3000)
                 .with_env("GF_INSTALL_PLUGINS", "grafana-clickhouse-datasource"))
    with container:
        url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(3000)}"
        api = GrafanaApi.from_url(url, credential=("admin", "admin"))
        wait_for_grafana(api)
        deployment = plan(load_journey_map(), ClickHouseConnection(password=SecretStr("ro")))
        apply(api, deployment)
        apply(api, deployment)  # idempotent: the second deploy updates in place
        for dashboard in all_dashboards(load_journey_map()):
            stored = api.dashboard.get_dashboard(dashboard.uid)
            assert stored["meta"]["folderUid"] == FOLDER_UID
            assert [p["title"] for p in stored["dashboard"]["panels"]] == [p.title for p in dashboard.panels]
            assert stored["dashboard"]["panels"][0]["targets"] == dashboard.to_json()["panels"][0]["targets"]
        assert api.datasource.get_datasource_by_uid("journeys-clickhouse")["type"] == "grafana-clickhouse-datasource"
        for rule in ALERT_RULES:
            assert api.alertingprovisioning.get_alertrule(rule.uid)["title"] == rule.title
        found = api.search.search_dashboards(tag="journeys")
        assert len(found) == 5
