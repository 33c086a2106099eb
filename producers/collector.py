"""Producers stage, HTTP adapter: the web beacon collector behind `journeys collect`.

`POST /v1/events` takes a JSON array (or {"events": [...]}) of touchpoint events with a bearer
token, validates each one, publishes the valid ones, dead-letters the rest with source
"collector", waits until Kafka has acknowledged them, and answers 202 with counts and reasons.
A body that cannot be read as a batch is answered 400 (or 413) and kept in the dead-letter topic
(a body over the size limit is not read: its dead letter records the refusal without the payload).
Pages send without a token: with a public write key (`?key=` or `write_key` in the body), from
an allowed origin (CORS), as `text/plain` (sendBeacon), within rate limits (producers.web).
`GET /healthz` answers the status to anyone and the publisher's counts only with a token.
Connections are bounded: a body must arrive within `read_timeout_s` (else 408), an idle connection
is closed after `idle_timeout_s`, connections over `max_connections` are answered 503 at once, and
a client that drops its connection is one INFO line. Decisions live in producers.beacon (pure
core); this module only moves bytes between HTTP and the publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
from aiohttp import web

from foundation.settings import CollectorSettings, Settings
from producers import beacon
from producers.beacon import BodyRefused, accepted_answer, authorized, body_rejection, parse_batch
from producers.core import channel_hint
from producers.publisher import Publisher
from producers.web import pages
from producers.web.access import KeyRefused, check_key, cors_headers, offered_key, page_result
from schemas.errors import ConfigError, DeliveryError
from schemas.validation import Rejection, validate

log = logging.getLogger(__name__)

SOURCE = "collector"
ACK_TIMEOUT_S = 10.0
START_TIMEOUT_S = 10.0
# After an answer given before the body was read whole (408, 413), what the client still sends is
# read and dropped for this long, so that it sees the answer; then the connection is closed.
LINGER_S = 2.0
EVENTS_PATH = "/v1/events"

PUBLISHER: web.AppKey[Publisher] = web.AppKey("publisher", Publisher)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(settings: Settings, publisher: Publisher) -> web.Application:
    """The collector's web application; the caller owns the publisher's life cycle."""
    if not settings.collector.tokens:
        raise ConfigError("settings", "collector.tokens", "no bearer token configured; the collector "
                          "refuses to run open (set JOURNEYS_COLLECTOR__TOKENS or pass --token)")
    _check_write_keys(settings.collector)
    collector = settings.collector
    app = web.Application(client_max_size=collector.max_body_bytes, middlewares=[_never_crash])
    app[PUBLISHER], app[SETTINGS] = publisher, settings
    app.router.add_post(EVENTS_PATH, post_events)
    pages.install(app, collector, EVENTS_PATH)
    app.router.add_get("/healthz", healthz)
    return app


def _check_write_keys(collector: CollectorSettings) -> None:
    """A public write key that is also a bearer token would publish a server's secret."""
    tokens = {t.get_secret_value() for t in collector.tokens}
    for number, key in enumerate(collector.write_keys):
        if key.key in tokens:
            raise ConfigError("settings", f"collector.write_keys[{number}]", "the write key of site "
                              f"{key.site!r} is also a bearer token: write keys are public, tokens secret")


def refuse(status: int, reason: str, **headers: str) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers)


@web.middleware
async def _never_crash(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Whatever goes wrong in a handler is answered (and logged), never fatal to the server."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return await _refuse_unread(request, f"body exceeds {request.app[SETTINGS].collector.max_body_bytes} bytes")
    except web.HTTPException as err:
        return refuse(err.status, err.reason)
    except ConnectionError as err:  # the client went away: nobody to answer, nothing went wrong here
        log.info("collector: client %s dropped the connection on %s %s (%s)", request.remote, request.method,
                 request.path, err or type(err).__name__)
        return refuse(499, "client closed the connection")
    except DeliveryError as err:
        log.error("collector: %s", err)
        return refuse(503, f"events not confirmed by Kafka, retry the batch: {err}", **{"Retry-After": "1"})
    except Exception as err:
        log.exception("collector: unexpected error on %s %s", request.method, request.path)
        return refuse(500, f"internal error: {type(err).__name__}")


async def post_events(request: web.Request) -> web.Response:
    settings, publisher = request.app[SETTINGS], request.app[PUBLISHER]
    if "Authorization" not in request.headers and (settings.collector.write_keys or "key" in request.query):
        return await post_from_page(request)
    if not authorized(request.headers.get("Authorization"), settings.collector.tokens):
        return refuse(401, "missing or unknown bearer token", **{"WWW-Authenticate": "Bearer"})
    body = await _read_body(request)
    if isinstance(body, web.Response):
        return body
    parsed = parse_batch(body, settings.collector.max_batch_events)
    if isinstance(parsed, BodyRefused):
        return await _refuse_body(publisher, body, parsed)
    return await _accept(publisher, parsed)


async def _read_body(request: web.Request) -> bytes | web.Response:
    """The whole body, or the answer to a body over the size limit or too slow to arrive."""
    settings = request.app[SETTINGS]
    limit = settings.collector.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return await _refuse_unread(request, f"body of {request.content_length} bytes exceeds {limit} bytes")
    try:
        async with asyncio.timeout(settings.collector.read_timeout_s):
            return await request.read()
    except TimeoutError:
        return timed_out(request, settings.collector.read_timeout_s)


async def post_from_page(request: web.Request) -> web.Response:
    """A batch from a page: with CORS headers for an allowed origin, a write key, rate limits."""
    answer = await _from_page(request)
    answer.headers.update(cors_headers(request.headers.get("Origin"), request.app[pages.ORIGINS]))
    return answer


async def _from_page(request: web.Request) -> web.Response:
    app, origin = request.app, request.headers.get("Origin")
    publisher, collector = app[PUBLISHER], app[SETTINGS].collector
    if wait_s := app[pages.BY_ADDRESS].wait_s(request.remote or "unknown"):
        return pages.too_many(f"too many requests from {request.remote}", wait_s)
    body = await _read_body(request)
    if isinstance(body, web.Response):
        return body
    document = beacon.parse_document(body)
    key = offered_key(request.query.get("key"), document)
    if key is None:
        return refuse(401, "missing bearer token or write key (?key= or write_key in the body)")
    access = check_key(key, origin, collector)
    if isinstance(access, KeyRefused):
        return await _refuse_body(publisher, body, BodyRefused(access.status, access.reason))
    if wait_s := app[pages.BY_KEY].wait_s(access.key):
        return pages.too_many(f"too many requests for site {access.site!r}", wait_s)
    events = document if isinstance(document, BodyRefused) else beacon.events_of(document, collector.max_batch_events)
    if isinstance(events, BodyRefused):
        return await _refuse_body(publisher, body, events)
    return await _accept(publisher, events, site=access.site)


async def _accept(publisher: Publisher, items: list[Any], site: str | None = None) -> web.Response:
    """A batch's valid events published, the rest dead-lettered, all acknowledged. From a page
    (`site` given), events outside a write key's scope are refused (producers.web.access)."""
    results = [validate(orjson.dumps(item), SOURCE, publisher.journey_map, publisher.edge) if site is None
               else page_result(item, site, SOURCE, publisher.journey_map, publisher.edge) for item in items]
    for item, result in zip(items, results, strict=True):
        if isinstance(result, Rejection):
            publisher.dead_letter(result, channel_hint(item))
    submitted = publisher.submit_many(r for r in results if not isinstance(r, Rejection))
    if submitted is not None:
        await asyncio.wrap_future(submitted)
    if len(results) != sum(1 for r in results if not isinstance(r, Rejection)):
        await _confirm(publisher)
    return web.json_response(accepted_answer(results), status=202)


def timed_out(request: web.Request, timeout_s: float) -> web.Response:
    """408 for a body that did not arrive in time; the connection is closed (after LINGER_S at
    most: a stalled client holds nothing after it). No dead letter: the input never arrived."""
    log.info("collector: body from %s not received within %s s: answered 408", request.remote, timeout_s)
    answer = refuse(408, f"request body not received within {timeout_s} s")
    answer.force_close()
    return answer


async def _refuse_body(publisher: Publisher, body: bytes, refusal: BodyRefused) -> web.Response:
    publisher.dead_letter(body_rejection(body, refusal, SOURCE))
    await _confirm(publisher)
    return refuse(refusal.status, refusal.reason)


async def _refuse_unread(request: web.Request, reason: str) -> web.Response:
    """413 for a body over the limit; the dead letter keeps the refusal, not the unread body."""
    publisher = request.app[PUBLISHER]
    publisher.dead_letter(body_rejection(b"", BodyRefused(413, reason), SOURCE))
    await _confirm(publisher)
    return refuse(413, reason)


async def _confirm(publisher: Publisher) -> None:
    """Wait (off the event loop) until Kafka acknowledged everything sent so far."""
    await asyncio.get_running_loop().run_in_executor(None, publisher.flush, ACK_TIMEOUT_S)


async def healthz(request: web.Request) -> web.Response:
    """The status to anyone (a load balancer's probe); the counts only with a bearer token."""
    if not authorized(request.headers.get("Authorization"), request.app[SETTINGS].collector.tokens):
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "ok", "counts": request.app[PUBLISHER].counts.snapshot()})


OVER_CAP_BODY = b'{"error": "too many connections, retry"}'
OVER_CAP_ANSWER = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(OVER_CAP_BODY), OVER_CAP_BODY))


class _OverCap(asyncio.Protocol):
    """A connection over the cap: answered 503 at once, what the client still sends is dropped for
    LINGER_S at most (so it reads the answer instead of a broken pipe), then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(OVER_CAP_ANSWER)
        transport.write_eof()
        self.closing = asyncio.get_running_loop().call_later(LINGER_S, transport.close)

    def eof_received(self) -> bool:
        return False  # the client is done too: close now

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing.cancel()


class CappedRunner(web.AppRunner):
    """The app's runner whose sites accept at most `max_connections` connections at a time."""

    def __init__(self, app: web.Application, max_connections: int, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.max_connections = max_connections

    @property
    def server(self) -> Any:  # what a site listens with: the app's server, behind the cap
        inner = super().server
        if inner is None:
            return None

        def protocol() -> asyncio.BaseProtocol:
            if len(inner.connections) < self.max_connections:
                return inner()
            log.info("collector: %d connections open, the limit: a new one is answered 503", self.max_connections)
            return _OverCap()
        return protocol


def runner_of(settings: Settings, publisher: Publisher, handle_signals: bool = False) -> CappedRunner:
    """The collector's runner with the connection settings (idle timeout, connection cap)."""
    collector = settings.collector
    return CappedRunner(create_app(settings, publisher), collector.max_connections, handle_signals=handle_signals,
                        keepalive_timeout=collector.idle_timeout_s, lingering_time=LINGER_S)


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the collector until interrupted (Ctrl-C or SIGTERM); flushes and closes on the way out."""
    with Publisher.connect(settings, source=SOURCE) as publisher, \
            contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(_serve_forever(runner_of(settings, publisher, handle_signals=True), host, port))


async def _serve_forever(runner: web.AppRunner, host: str, port: int) -> None:
    url = await _start(runner, host, port)
    log.info("collector: serving on %s", url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def running_collector(settings: Settings, publisher: Publisher, host: str = "127.0.0.1",
                      port: int = 0) -> Iterator[str]:
    """The collector on a background thread (tests, benchmarks); yields its base URL."""
    loop = asyncio.new_event_loop()
    runner = runner_of(settings, publisher)
    thread = threading.Thread(target=loop.run_forever, name="journeys-collector", daemon=True)
    thread.start()
    try:
        url = asyncio.run_coroutine_threadsafe(_start(runner, host, port), loop).result(START_TIMEOUT_S)
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(START_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT_S)
        loop.close()


async def _start(runner: web.AppRunner, host: str, port: int) -> str:
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server: Any = site._server
    bound = server.sockets[0].getsockname()
    return f"http://{bound[0]}:{bound[1]}"
