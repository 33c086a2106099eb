"""Fixtures of the Grafana tests: one warehouse database per session, migrated and loaded with a
week of traffic that went through the stream core and the warehouse writer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.sink import WarehouseWriter
from foundation.settings import ClickHouseSettings, Settings
from tests.grafana.traffic import all_records


@pytest.fixture(scope="session")
def dashboard_settings(warehouse_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings on a database of the session's own (the panels read it, never write)."""
    return Settings(data_dir=tmp_path_factory.mktemp("grafana"),
                    clickhouse=ClickHouseSettings(dsn=warehouse_dsn, database=f"grafana_{uuid.uuid4().hex[:8]}"))


@pytest.fixture(scope="session")
def warehouse(dashboard_settings: Settings) -> Iterator[Client]:
    """The migrated warehouse with the week's traffic in it."""
    client = connect(dashboard_settings)
    migrate(client)
    WarehouseWriter(client).write(all_records())
    yield client
