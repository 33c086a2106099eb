"""Fixtures of the ClickHouse stage: a migrated warehouse database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.client import connect
from clickhouse.migrate import migrate
from foundation.settings import Settings


@pytest.fixture
def warehouse(settings: Settings) -> Iterator[Client]:
    """A client on the test's own, migrated database; dropped afterwards."""
    client = connect(settings)
    migrate(client, settings.clickhouse.ttl_days)
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse.database}`")
