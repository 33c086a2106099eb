"""The warehouse answers while the pipeline runs: a read-only HTTP endpoint in the process that owns it.

chDB opens a data path in one process at a time, so while `journeys up` or `journeys worker
--sink` runs, no other process can read the embedded warehouse. That process therefore serves
reads itself, on a thread of its own with a client of its own (stdlib http.server, loopback by
default, a bearer token required for any other host): the named queries as JSON or CSV
(`GET /v1/query/<name>?from=&to=&channel=&segment=&touchpoint=&limit=&format=json|csv`), the
incidents of `journeys incidents` (`GET /v1/incidents?last_s=&period=&dims=...`, journeys/incident_reads.py), the
experience map (`GET /map`, the live page, which refreshes from `GET /v1/map/fragment`; `GET
/v1/map/document?format=html|svg`, the static document) and `GET /healthz`. Only the SELECTs of the named queries and the map run here: no SQL
arrives from outside. The address is written to `<data_dir>/reads.json` (journeys/readclient.py
finds it there), so `journeys query` and `journeys map` use the endpoint by themselves.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from clickhouse.client import WarehouseBusyError, connect, embedded_path
from clickhouse.queries import (
    EARLIEST,
    LATEST,
    QUERIES,
    Filters,
    QueryResult,
    check_window,
    named_query,
    run,
    split_where,
)
from foundation.settings import Settings
from grafana.experience_map.live import live_page, render_html
from grafana.experience_map.page import map_fragment
from grafana.experience_map.queries import segments
from grafana.experience_map.render import render_svg
from grafana.experience_map.service import MapRequest, draw_from
from journeys.analysis_reads import FILTER_PARAMS, explain_of, explained, extra_of, run_named_analysis
from journeys.analysis_reads import listing as analyses_listing
from journeys.incident_reads import IncidentOptions, run_incidents
from journeys.readclient import forget_address, remember_address
from journeys.tables import render
from schemas.errors import JourneysError, WarehouseError
from schemas.journeymap import JourneyMap, load_journey_map

log = logging.getLogger(__name__)

QUERY_PREFIX = "/v1/query/"
ANALYSIS_PREFIX = "/v1/analyses/"
HTTP_NAMES = {"start": "from", "end": "to"}  # a named query's filter -> its query-string name
BUSY_RETRY_S = 1.0
TIMEOUT_EXCEEDED = "(TIMEOUT_EXCEEDED)"  # how ClickHouse names a query stopped at max_execution_time
MEMORY_EXCEEDED = "(MEMORY_LIMIT_EXCEEDED)"  # ... and one stopped at max_memory_usage
TEXT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8",
              "svg": "image/svg+xml"}


class BadRequest(JourneysError):
    """A request the endpoint cannot answer as asked (an unknown filter value, a bad date)."""


class QueryTooLongError(WarehouseError):
    """A read that ran past `reads.max_query_s`: the warehouse stopped it so the other readers go on."""

    def __init__(self, what: str, limit_s: float) -> None:
        super().__init__(f"{what} ran longer than {limit_s:g} s and was stopped (JOURNEYS_READS__MAX_QUERY_S): "
                         "ask for a shorter range or a filter")


class QueryTooBigError(WarehouseError):
    """A read that needed more than `reads.max_query_memory_mb`: stopped before it starves the worker."""

    def __init__(self, what: str, limit_mb: int) -> None:
        super().__init__(f"{what} needed more than {limit_mb} MB and was stopped (JOURNEYS_READS__MAX_QUERY_MEMORY_MB): "
                         "ask for a shorter range, fewer dimensions or a filter")


class Lane:
    """A warehouse client of the endpoint's and the lock its requests take turns on."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.lock = settings, threading.Lock()
        self.client: Client | None = None

    def connected(self) -> Client:
        if self.client is None:
            self.client = connect(self.settings)
            self.client.set_client_setting("max_execution_time", self.settings.reads.max_query_s)
            self.client.set_client_setting("max_memory_usage", self.settings.reads.max_query_memory_mb * 2**20)
        return self.client

    def close(self) -> None:
        with self.lock:
            if self.client is not None:
                self.client.close()


class Reads:
    """What the endpoint can answer, one request at a time per lane: the live map has a client of its
    own, so an analyst's long read (up to `max_query_s`) does not freeze the operators' map."""

    def __init__(self, settings: Settings, journey_map: JourneyMap) -> None:
        self.settings, self.journey_map = settings, journey_map
        self._reads, self._map = Lane(settings), Lane(settings)
        self._lock = self._reads.lock

    def query(self, name: str, params: dict[str, str]) -> QueryResult:
        query = named_query(name)
        allowed = {HTTP_NAMES.get(f, f) for f in query.filters}
        unknown = sorted(set(params) - allowed)
        if unknown:  # answered as if it were applied, it would mislead: say it is not
            raise BadRequest(f"{query.name} takes no {', '.join(unknown)} (filters: {', '.join(sorted(allowed))})")
        with self._lock, self._bounded(f"the query {query.name}"):
            return run(self._connected(), query.name, filters_of(params), self.journey_map.phase_ids)

    def analysis(self, name: str, params: dict[str, str]) -> QueryResult:
        """`journeys funnel`, `paths` or `conformance` run here (journeys/analysis_reads.py)."""
        extra = extra_of(params)
        filters = _filters_in(params)
        with self._lock, self._bounded(f"the analysis {name}"):
            return run_named_analysis(self._connected(), name, filters, extra, self.journey_map)

    def explain(self, params: dict[str, str]) -> QueryResult:
        """`journeys explain` run here."""
        request = explain_of(params, _filters_in(params), moment)
        with self._lock, self._bounded("explain"):
            return explained(self._connected(), request, self.journey_map)

    def incidents(self, params: dict[str, str]) -> QueryResult:
        """`journeys incidents` run here (journeys/incident_reads.py), for the command beside a running pipeline."""
        options = IncidentOptions.from_params(params)
        with self._lock, self._bounded("incidents"):
            return run_incidents(self._connected(), options, self.journey_map)

    def map_document(self, params: dict[str, str], kind: str) -> str:
        """The map as `kind`: "live" (the page), "fragment" (what it refreshes), "svg" or "html" (documents)."""
        request = map_request(params)
        with self._map.lock, self._bounded("the experience map"):
            experience_map, comparison = draw_from(self._map.connected(), self.journey_map, request)
            known = segments(self._map.connected()) if kind == "live" else []
        if kind == "live":
            return live_page(experience_map, comparison, params, known)
        if kind == "fragment":
            return map_fragment(experience_map, comparison)
        return render_svg(experience_map, comparison) if kind == "svg" else render_html(experience_map, comparison)

    def open(self) -> None:
        """Open the warehouse now (WarehouseBusyError if another process holds it)."""
        with self._lock:
            self._connected()

    def close(self) -> None:
        self._reads.close()
        self._map.close()

    @contextmanager
    def _bounded(self, what: str) -> Iterator[None]:
        try:
            yield
        except DatabaseError as err:
            if TIMEOUT_EXCEEDED in str(err):
                raise QueryTooLongError(what, self.settings.reads.max_query_s) from None
            if MEMORY_EXCEEDED in str(err):
                raise QueryTooBigError(what, self.settings.reads.max_query_memory_mb) from None
            raise

    def _connected(self) -> Client:
        return self._reads.connected()


def filters_of(params: dict[str, str]) -> Filters:
    try:
        limit = int(params.get("limit", "20"))
    except ValueError:
        raise BadRequest(f"limit must be a whole number, not {params['limit']!r}") from None
    where_dim, where_value = split_where(params.get("where", ""))
    return Filters(start=moment(params.get("from")) or EARLIEST, end=moment(params.get("to")) or LATEST,
                   channel=params.get("channel", ""), segment=params.get("segment", ""),
                   touchpoint=params.get("touchpoint", ""), where_dim=where_dim,
                   where_value=where_value, dim=params.get("by", ""), limit=limit)


def _filters_in(params: dict[str, str]) -> Filters:
    """The shared filters of an analysis request (the rest are the analysis's own parameters)."""
    return filters_of({k: v for k, v in params.items() if k in FILTER_PARAMS})


def map_request(params: dict[str, str]) -> MapRequest:
    where = split_where(params.get("where", ""))
    return MapRequest(segment=params.get("segment") or None, where=where if where[1] else None,
                      start=moment(params.get("from")), paths_from=params.get("paths_from", ""),
                      end=moment(params.get("to")), compare_start=moment(params.get("compare_from")),
                      compare_end=moment(params.get("compare_to")))


def moment(text: str | None) -> datetime | None:
    """A date or an ISO time (UTC when no zone is given); None when not given."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"not a date or ISO time: {text!r}") from None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    check_window(value)
    return value


REQUEST_TIMEOUT_S = 10


class Handler(BaseHTTPRequestHandler):
    """GET only; every answer is JSON except the map documents and CSV."""

    server: ReadServer
    timeout = REQUEST_TIMEOUT_S  # a half-sent request holds a thread no longer than this

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if not self._authorised(params.pop("token", "")):
            self._send(HTTPStatus.UNAUTHORIZED, "json", _error("a bearer token is required"))
            return
        try:
            self._route(url.path, params)
        except (BadRequest, ValueError, JourneysError) as err:
            status = HTTPStatus.SERVICE_UNAVAILABLE if isinstance(err, WarehouseError) else HTTPStatus.BAD_REQUEST
            if "no query named" in str(err) or "no analysis named" in str(err):
                status = HTTPStatus.NOT_FOUND
            self._send(status, "json", _error(str(err)))
        except Exception as err:  # the endpoint must outlive any one request; the pipeline goes on
            log.exception("read endpoint: %s failed", url.path)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "json", _error(f"{type(err).__name__} (see the worker's log)"))

    def _route(self, path: str, params: dict[str, str]) -> None:
        reads = self.server.reads
        fmt = params.pop("format", "json")
        if path == "/healthz":
            self._send(HTTPStatus.OK, "json", orjson.dumps({"ok": True}))
        elif path in ("/v1/query", "/v1/query/"):
            listing = [{"name": q.name, "description": q.description,
                        "filters": [HTTP_NAMES.get(f, f) for f in q.filters]} for q in QUERIES.values()]
            self._send(HTTPStatus.OK, "json", orjson.dumps(listing))
        elif path.startswith(QUERY_PREFIX):
            self._send_table(reads.query(path.removeprefix(QUERY_PREFIX), params), fmt)
        elif path in ("/v1/analyses", "/v1/analyses/"):
            self._send(HTTPStatus.OK, "json", orjson.dumps(analyses_listing()))
        elif path.startswith(ANALYSIS_PREFIX):
            self._send_table(reads.analysis(path.removeprefix(ANALYSIS_PREFIX), params), fmt)
        elif path == "/v1/explain":
            self._send_table(reads.explain(params), fmt)
        elif path == "/v1/incidents":
            self._send_table(reads.incidents(params), fmt)
        elif path in ("/", "/map"):
            self._send(HTTPStatus.OK, "html", reads.map_document(params, "live").encode())
        elif path == "/v1/map/fragment":
            self._send(HTTPStatus.OK, "html", reads.map_document(params, "fragment").encode())
        elif path == "/v1/map/document":
            fmt = "svg" if fmt == "svg" else "html"
            self._send(HTTPStatus.OK, fmt, reads.map_document(params, fmt).encode())
        else:
            self._send(HTTPStatus.NOT_FOUND, "json", _error(f"no such resource: {path}"))

    def _send_table(self, result: QueryResult, fmt: str) -> None:
        if fmt == "csv":
            self._send(HTTPStatus.OK, "csv", render(result, "csv").encode())
        else:
            self._send(HTTPStatus.OK, "json", as_json(result))

    def _authorised(self, from_query: str) -> bool:
        token = self.server.token
        if not token:  # loopback only: a page elsewhere can still reach it by DNS rebinding, so the Host must be ours
            return is_loopback(self.headers.get("Host", "").rsplit(":", 1)[0].strip("[]"))
        given = self.headers.get("Authorization", "").removeprefix("Bearer ").strip() or from_query
        return hmac.compare_digest(given.encode(), token.encode())

    def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", TEXT_TYPES[kind])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("read endpoint: " + format, *args)


def as_json(result: QueryResult) -> bytes:
    """Columns and rows; values as orjson writes them (`journeys query --format json` does the same)."""
    return orjson.dumps({"columns": result.columns, "rows": result.rows}, default=str)


def _error(message: str) -> bytes:
    return orjson.dumps({"error": message})


class ReadServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, settings: Settings, reads: Reads) -> None:
        self.reads = reads
        self.token = settings.reads.token.get_secret_value() if settings.reads.token else ""
        try:
            super().__init__((settings.reads.host, settings.reads.port), Handler)
        except OSError as err:  # the port is taken (another worker?): any free port, the address file says which
            log.warning("read endpoint: %s:%d unavailable (%s); serving on a free port", settings.reads.host,
                        settings.reads.port, err)
            super().__init__((settings.reads.host, 0), Handler)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}"


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def start(settings: Settings) -> ReadServer | None:
    """Serve reads on a thread; None (with the reason logged) when this process should not serve."""
    if not settings.reads.enabled or embedded_path(settings.warehouse_dsn()) is None:
        return None
    if not is_loopback(settings.reads.host) and settings.reads.token is None:
        log.error("read endpoint not started: host %s is not loopback and JOURNEYS_READS__TOKEN is not set",
                  settings.reads.host)
        return None
    reads = Reads(settings, load_journey_map(settings.journey_map))
    # Hold the warehouse before announcing the address: from then on, a command that finds the
    # address also finds the warehouse held, and asks here instead of racing this process for it.
    reads.open()
    try:
        server = ReadServer(settings, reads)
    except OSError as err:  # no reads, but the pipeline goes on
        log.error("read endpoint not started: cannot listen on %s:%d: %s", settings.reads.host, settings.reads.port, err)
        reads.close()
        return None
    threading.Thread(target=server.serve_forever, name="read-endpoint", daemon=True).start()
    remember_address(settings, server.url)
    log.info("read endpoint: the warehouse answers at %s (experience map: %s/map)", server.url, server.url)
    return server


def stop(server: ReadServer, settings: Settings) -> None:
    forget_address(settings)
    server.shutdown()
    server.server_close()
    server.reads.close()


def attach_reads(app: Any, settings: Settings) -> None:
    """Serve reads while the Faust app (the worker with the sink, or the sink alone) runs."""

    async def serve_reads() -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                server = await loop.run_in_executor(None, start, settings)
                break
            except WarehouseBusyError as busy:  # a command holds it for a moment (before the address existed)
                log.warning("read endpoint waits for the warehouse: %s", busy)
                await asyncio.sleep(BUSY_RETRY_S)
        if server is None:
            return
        try:
            await asyncio.Event().wait()  # until the app stops and cancels its tasks
        finally:
            await asyncio.get_running_loop().run_in_executor(None, stop, server, settings)

    app.task(serve_reads)
