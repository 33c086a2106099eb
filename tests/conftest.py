"""Shared fixtures: a real local broker and a real embedded warehouse, started by the tests.

Kafka: a session-scoped Tansu broker (never skipped). `--kafka HOST:PORT` (or the setting
`JOURNEYS_KAFKA__BOOTSTRAP_SERVERS`) points the tests at an external Kafka instead.
ClickHouse: one chDB data path per test session (chDB opens one path per process); each test
gets its own database in it. `--clickhouse URL` points the tests at a server instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from foundation.localbroker import LocalBroker, local_broker
from foundation.settings import ClickHouseSettings, KafkaSettings, Settings

FAST_GROUP_JOIN = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 666}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kafka", default="", help="bootstrap servers of an external Kafka to test against")
    parser.addoption("--clickhouse", default="", help="URL of a ClickHouse server to test against")


@pytest.fixture(scope="session")
def bootstrap_servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = request.config.getoption("--kafka")
    if external:
        yield external
        return
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with local_broker(log_path=log) as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of the test's own, for tests that stop or restart it."""
    with local_broker(log_path=tmp_path / "tansu.log") as broker:
        yield broker


@pytest.fixture(scope="session")
def warehouse_dsn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    external = request.config.getoption("--clickhouse")
    return external or f"chdb://{tmp_path_factory.mktemp('warehouse').resolve()}"


@pytest.fixture
def unique() -> Callable[[str], str]:
    """unique("orders") -> "orders-3f9a1c2e": names for topics, groups and databases."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(bootstrap_servers: str, warehouse_dsn: str, tmp_path: Path) -> Settings:
    """Settings for one test: the session broker, a prefix for its own topics, its own database."""
    tag = uuid.uuid4().hex[:8]
    return Settings(
        data_dir=tmp_path,
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, topic_prefix=f"t{tag}.",
                            **FAST_GROUP_JOIN),
        clickhouse=ClickHouseSettings(dsn=warehouse_dsn, database=f"journeys_{tag}"),
    )
