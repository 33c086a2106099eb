"""The same migrations, writer and named queries on a ClickHouse server (testcontainers).

Runs where a Docker engine answers; skipped with the reason otherwise. The image is the one the
Docker stack runs (docker-compose.yml). Every other test of this stage runs on embedded chDB.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.queries import QUERIES, Filters, run
from clickhouse.sink import WarehouseWriter
from foundation.settings import ClickHouseSettings, Settings
from tests.clickhouse import scenario as s
from tests.docker import docker_engine_answers

CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:24.8"


pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(not docker_engine_answers(), reason="no Docker engine answers on this machine; "
                       "the same SQL runs on embedded chDB in the other tests of tests/clickhouse"),
]


@pytest.fixture(scope="module")
def server_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    from pydantic import SecretStr
    from testcontainers.clickhouse import ClickHouseContainer

    with ClickHouseContainer(CLICKHOUSE_IMAGE) as server:
        url = f"http://{server.get_container_host_ip()}:{server.get_exposed_port(8123)}"
        yield Settings(data_dir=tmp_path_factory.mktemp("server"),
                       clickhouse=ClickHouseSettings(dsn=url, database="journeys_server", username=server.username,
                                                     password=SecretStr(server.password)))


def test_migrations_writer_and_queries_on_a_server(server_settings: Settings) -> None:
    client = connect(server_settings)
    assert len(migrate(client)) >= 4 and migrate(client) == []
    WarehouseWriter(client).write(s.RECORDS)
    funnel = run(client, "funnel", Filters(), s.PHASES).rows
    assert funnel == s.FUNNEL
    for name in QUERIES:
        run(client, name, Filters(segment="x' OR 1=1 --"), s.PHASES)
