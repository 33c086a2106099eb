"""Grafana stage: deploy the folder, the ClickHouse data source, the dashboards and the alert rules
to a running Grafana over its HTTP API (grafana-client), for installs without file provisioning.

Every step is an upsert by uid, so deploying twice changes nothing the second time: the folder is
created or renamed, the data source created or updated, each dashboard saved with overwrite, and
the alert rule group replaced as a whole (rules created or updated by uid). `plan()` is pure (the
payloads to send); `apply()` only sends them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaException
from pydantic import SecretStr

from grafana.alerts import FOLDER_TITLE, FOLDER_UID, GROUP, alert_rules, rule_group_payload
from grafana.boards import all_dashboards
from grafana.export import datasource_document
from schemas.errors import GrafanaError
from schemas.journeymap import JourneyMap

NOT_FOUND = 404
DEPLOY_TIMEOUT_S = 30.0
T = TypeVar("T")


@dataclass(frozen=True)
class ClickHouseConnection:
    """How Grafana reaches ClickHouse: over HTTP, as the read-only dashboards user."""

    host: str = "clickhouse"
    port: int = 8123
    username: str = "grafana_ro"
    password: SecretStr = field(default_factory=lambda: SecretStr(""))
    database: str = "journeys"
    secure: bool = False


@dataclass(frozen=True)
class Plan:
    """Everything a deploy sends, in order."""

    datasource: dict[str, Any]
    dashboards: tuple[dict[str, Any], ...]
    rule_group: dict[str, Any]


def datasource_payload(connection: ClickHouseConnection) -> dict[str, Any]:
    source = dict(datasource_document()["datasources"][0])
    source["jsonData"] = {**source["jsonData"], "host": connection.host, "port": connection.port,
                          "username": connection.username, "defaultDatabase": connection.database,
                          "secure": connection.secure}
    source["secureJsonData"] = {"password": connection.password.get_secret_value()}
    return source


def plan(journey_map: JourneyMap, connection: ClickHouseConnection) -> Plan:
    dashboards = tuple({"dashboard": d.to_json(), "folderUid": FOLDER_UID, "overwrite": True,
                        "message": "journeys grafana deploy"} for d in all_dashboards(journey_map))
    return Plan(datasource_payload(connection), dashboards, rule_group_payload(alert_rules(journey_map)))


def _call(item: str, action: Callable[[], T]) -> T:
    try:
        return action()
    except GrafanaException as err:
        raise GrafanaError(item, f"HTTP {err.status_code}: {err.message}") from err
    except OSError as err:
        raise GrafanaError(item, str(err)) from err


def _exists(item: str, lookup: Callable[[], object]) -> bool:
    try:
        lookup()
    except GrafanaException as err:
        if err.status_code == NOT_FOUND:
            return False
        raise GrafanaError(item, f"HTTP {err.status_code}: {err.message}") from err
    return True


def connect(url: str, token: SecretStr) -> GrafanaApi:
    return GrafanaApi.from_url(url, credential=token.get_secret_value(), timeout=DEPLOY_TIMEOUT_S)


def apply(api: GrafanaApi, deployment: Plan) -> list[str]:
    """Send the plan; returns one line per item deployed."""
    done = [_upsert_folder(api), _upsert_datasource(api, deployment.datasource)]
    for payload in deployment.dashboards:
        done.append(_save_dashboard(api, payload))
    _call(f"alert rule group {GROUP}",
          lambda: api.alertingprovisioning.update_rule_group(FOLDER_UID, GROUP, deployment.rule_group))
    done.append(f"alert rules {', '.join(r['uid'] for r in deployment.rule_group['rules'])}")
    return done


def _save_dashboard(api: GrafanaApi, payload: dict[str, Any]) -> str:
    item = f"dashboard {payload['dashboard']['uid']}"
    _call(item, lambda: api.dashboard.update_dashboard(payload))
    return item


def _upsert_folder(api: GrafanaApi) -> str:
    item = f"folder {FOLDER_UID}"
    if _exists(item, lambda: api.folder.get_folder(FOLDER_UID)):
        _call(item, lambda: api.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True))
    else:
        _call(item, lambda: api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID))
    return item


def _upsert_datasource(api: GrafanaApi, payload: dict[str, Any]) -> str:
    uid = payload["uid"]
    item = f"datasource {uid}"
    if _exists(item, lambda: api.datasource.get_datasource_by_uid(uid)):
        _call(item, lambda: api.datasource.update_datasource_by_uid(uid, payload))
    else:
        _call(item, lambda: api.datasource.create_datasource(payload))
    return item
