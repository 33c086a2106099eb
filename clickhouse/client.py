"""ClickHouse stage: the one factory for warehouse clients, built from the settings.

Every process that reads or writes the warehouse gets its client here, so the same SQL runs on
the embedded engine and on a server; only the DSN differs. The default DSN is an embedded chDB
warehouse under the data dir (`chdb:///<data_dir>/warehouse`); `http(s)://host:port` reaches a
ClickHouse server with settings.clickhouse.username/password.

chDB opens one data path per process, and a path is not shared between processes: exactly one
process owns an embedded warehouse (the worker in embedded mode, or the standalone sink). Other
processes ask that one (`journeys query` and `journeys map` do so by themselves, see
journeys/reads.py) or need a ClickHouse server. Before opening an embedded path this module looks
at chDB's own lock on it, so a held warehouse is one clear error (WarehouseBusyError naming the
holder), not the engine's raw lines on stderr.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from schemas.errors import WarehouseError

DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
CONNECT_TIMEOUT_S = 10
LOCK_FILE = "status"  # chDB (ClickHouse) holds an exclusive flock on it while a process has the path open
HOLDER_PID = re.compile(r"^PID: (\d+)", re.MULTILINE)
# Embedded paths this process has opened: probing chDB's lock from the process holding it would fail.
_opened_here: set[Path] = set()


class WarehouseBusyError(WarehouseError):
    """The embedded warehouse's data path is held by another process (chDB: one process per path)."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path, self.pid = path, pid
        holder = f"process {pid}" if pid else "another process"
        super().__init__(f"the embedded warehouse {path} is held by {holder} (a running `journeys up`, "
                         "`journeys worker --sink` or `journeys sink`; chDB opens a data path in one process at a "
                         "time): stop it first, or point JOURNEYS_CLICKHOUSE__DSN at a ClickHouse server")


def connect(settings: Settings) -> Client:
    """A client on settings.clickhouse.database, creating the database when it is missing.

    An existing database is only looked up, never re-created, so read-only users (dashboards) connect too.
    """
    database = settings.clickhouse.database
    if not DATABASE_NAME.match(database):
        raise WarehouseError(f"invalid database name {database!r}: letters, digits and _ only")
    dsn = settings.warehouse_dsn()
    path = embedded_path(dsn)
    if path is not None and path not in _opened_here:
        refuse_if_held(path)
    try:
        admin = _client(settings, dsn, database=None)
        exists = admin.query("SELECT count() FROM system.databases WHERE name = {name:String}",
                             parameters={"name": database}).result_rows[0][0]
        if not exists:
            admin.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        admin.close()
        client = _client(settings, dsn, database=database)
        if path is not None:
            _opened_here.add(path)
        return client
    except WarehouseError:
        raise
    except Exception as err:
        if path is not None and path not in _opened_here:
            refuse_if_held(path)  # another process took it between the look and the open
        raise WarehouseError(f"cannot reach the warehouse at {redact(dsn)}: {err}") from err


def is_embedded(dsn: str) -> bool:
    """True for the in-process chDB engine (`chdb:` DSNs)."""
    return dsn.startswith("chdb:")


def embedded_path(dsn: str) -> Path | None:
    """The data path of a `chdb://` DSN (None for a server)."""
    if not is_embedded(dsn):
        return None
    return Path(dsn.removeprefix("chdb:").removeprefix("//").split("?")[0]).resolve()


def refuse_if_held(path: Path) -> None:
    """Raise WarehouseBusyError when another process holds chDB's lock on `path`."""
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return  # nobody has it open: chDB removes the file when it closes the path
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise WarehouseBusyError(path, holder_pid(path)) from None
    finally:
        os.close(fd)  # also drops the probe's own lock, if it got one


def holder_pid(path: Path) -> int | None:
    with contextlib.suppress(OSError):
        found = HOLDER_PID.search((path / LOCK_FILE).read_text(errors="replace"))
        return int(found.group(1)) if found else None
    return None


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
