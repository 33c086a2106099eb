"""Asking the running pipeline: where its read endpoint is, and the calls `journeys query`/`map` make.

The process that owns the embedded warehouse (journeys/reads.py) writes its address to
`<data_dir>/reads.json` when it starts and removes it when it stops. A command that finds the
warehouse held (clickhouse.client.WarehouseBusyError) looks there; an address left behind by a
process that died is ignored (its pid is gone, or nothing answers). Plain urllib: one GET each.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from clickhouse.client import WarehouseBusyError, embedded_path, redact
from clickhouse.queries import QueryResult
from foundation.settings import Settings
from schemas.errors import WarehouseError

ADDRESS_FILE = "reads.json"
REQUEST_TIMEOUT_S = 120.0  # a map over a large warehouse takes a while; the CLI waits for it


def address_path(settings: Settings) -> Path:
    return settings.data_dir.resolve() / ADDRESS_FILE


def remember_address(settings: Settings, url: str) -> None:
    path = address_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": url, "pid": os.getpid()}))


def forget_address(settings: Settings) -> None:
    """Remove the address file if it is still this process's (a newer server may have replaced it)."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(address_path(settings).read_text()).get("pid") == os.getpid():
            address_path(settings).unlink()


def served_url(settings: Settings) -> str | None:
    """The running pipeline's endpoint, or None when no live process wrote one."""
    try:
        found = json.loads(address_path(settings).read_text())
        os.kill(int(found["pid"]), 0)  # raises when that process is gone
        return str(found["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def get(settings: Settings, url: str, path: str, params: dict[str, Any]) -> bytes:
    """GET one resource of the endpoint; its error message (or why it cannot be reached) as WarehouseError."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    request = urllib.request.Request(f"{url}{quote(path)}?{query}")
    if settings.reads.token is not None:
        request.add_header("Authorization", f"Bearer {settings.reads.token.get_secret_value()}")
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as err:
        raise WarehouseError(f"the running pipeline's endpoint {url} answered {err.code}: {_reason(err)}") from None
    except OSError as err:
        raise WarehouseError(f"the running pipeline's endpoint {url} does not answer: {err}") from None


def _reason(err: urllib.error.HTTPError) -> str:
    with contextlib.suppress(Exception):
        return str(json.loads(err.read())["error"])
    return str(err.reason)


def wait_for_url(settings: Settings, timeout_s: float) -> str | None:
    """The endpoint's address once the owner of the warehouse serves it (None after timeout_s)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        url = served_url(settings)
        if url is not None:
            return url
        time.sleep(0.2)
    return None


def live_map_line(settings: Settings, wait_s: float = 30.0) -> str:
    """What `journeys up` prints: the live map's address, once the worker serves it."""
    if embedded_path(settings.warehouse_dsn()) is None or not settings.reads.enabled:
        return f"Experience map: journeys map --out map.html (warehouse {redact(settings.warehouse_dsn())})"
    url = wait_for_url(settings, wait_s)
    if url is None:
        return f"Experience map, live: not served yet (its address will be in {address_path(settings)})"
    return f"Experience map, live: {url}/map   (journeys query and journeys map ask it while it runs)"


def ask(settings: Settings, path: str, params: dict[str, Any], busy: WarehouseBusyError) -> QueryResult:
    """A table answered by the process holding the embedded warehouse (journeys/reads.py): what a
    command asks when it cannot open the warehouse itself."""
    url = served_url(settings)
    if url is None:
        raise WarehouseError(f"{busy}; it serves no read endpoint (JOURNEYS_READS__ENABLED is off, or it is older)")
    answer = orjson.loads(get(settings, url, path, params))
    return QueryResult(tuple(answer["columns"]), [tuple(row) for row in answer["rows"]])

