"""ClickHouse stage: the one factory for warehouse clients, built from the settings.

Every process that reads or writes the warehouse gets its client here, so the same SQL runs on
the embedded engine and on a server; only the DSN differs. The default DSN is an embedded chDB
warehouse under the data dir (`chdb:///<data_dir>/warehouse`); `http(s)://host:port` reaches a
ClickHouse server with settings.clickhouse.username/password.

chDB opens one data path per process, and a path is not shared between processes: exactly one
process owns an embedded warehouse (the worker in embedded mode, or the standalone sink). Other
processes (dashboards, analysts) need a ClickHouse server.
"""

from __future__ import annotations

import re
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from journeys.errors import WarehouseError
from journeys.settings import Settings

DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
CONNECT_TIMEOUT_S = 10


def connect(settings: Settings) -> Client:
    """A client on settings.clickhouse.database, creating the database when it is missing.

    An existing database is only looked up, never re-created, so read-only users (dashboards) connect too.
    """
    database = settings.clickhouse.database
    if not DATABASE_NAME.match(database):
        raise WarehouseError(f"invalid database name {database!r}: letters, digits and _ only")
    dsn = settings.warehouse_dsn()
    try:
        admin = _client(settings, dsn, database=None)
        exists = admin.query("SELECT count() FROM system.databases WHERE name = {name:String}",
                             parameters={"name": database}).result_rows[0][0]
        if not exists:
            admin.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        admin.close()
        return _client(settings, dsn, database=database)
    except WarehouseError:
        raise
    except Exception as err:
        raise WarehouseError(f"cannot reach the warehouse at {redact(dsn)}: {err}") from err


def is_embedded(dsn: str) -> bool:
    """True for the in-process chDB engine (`chdb:` DSNs)."""
    return dsn.startswith("chdb:")


def redact(dsn: str) -> str:
    """The DSN without any password, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", dsn)


def _client(settings: Settings, dsn: str, database: str | None) -> Client:
    options: dict[str, Any] = {"dsn": dsn, "database": database}
    if not is_embedded(dsn):
        options |= {"username": settings.clickhouse.username,
                    "password": settings.clickhouse.password.get_secret_value(),
                    "connect_timeout": CONNECT_TIMEOUT_S}
    return clickhouse_connect.get_client(**options)
