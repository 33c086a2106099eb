"""Producers stage, HTTP adapter: the collector's routes for pages (CORS preflight, the script).

The collector (producers.collector) serves pages and servers on the same `/v1/events`; this
module adds what only browsers need: the answer to their CORS preflight, the script they load,
and the rate limiters kept per write key and per client address. Decisions live in
producers.web.access and producers.web.ratelimit.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from foundation.settings import CollectorSettings
from producers.web.access import browser_origins, preflight_headers
from producers.web.ratelimit import RateLimiter, retry_after

SCRIPT_PATH = "/v1/journeys.js"
SCRIPT_MAX_AGE_S = 300
JOURNEYS_JS = resources.files("producers.web").joinpath("journeys.js").read_bytes()

ORIGINS: web.AppKey[frozenset[str]] = web.AppKey("origins", frozenset)
BY_KEY: web.AppKey[RateLimiter] = web.AppKey("by_key", RateLimiter)
BY_ADDRESS: web.AppKey[RateLimiter] = web.AppKey("by_address", RateLimiter)


def install(app: web.Application, collector: CollectorSettings, events_path: str) -> None:
    """Add the preflight and script routes, the allowed origins and the rate limiters to `app`."""
    app[ORIGINS] = browser_origins(collector)
    app[BY_KEY] = RateLimiter(collector.key_rate_per_s, collector.key_burst)
    app[BY_ADDRESS] = RateLimiter(collector.address_rate_per_s, collector.address_burst)
    app.router.add_route("OPTIONS", events_path, preflight)
    app.router.add_get(SCRIPT_PATH, script)


async def preflight(request: web.Request) -> web.Response:
    """The browser's CORS preflight: 204 for an allowed origin, 403 for any other."""
    headers = preflight_headers(request.headers.get("Origin"), request.app[ORIGINS])
    if headers is None:
        return web.json_response({"error": f"origin {request.headers.get('Origin')!r} is not allowed"},
                                 status=403, headers={"Vary": "Origin"})
    return web.Response(status=204, headers=headers)


async def script(request: web.Request) -> web.Response:
    """The browser script (producers/web/journeys.js), for any page to load."""
    return web.Response(body=JOURNEYS_JS, content_type="application/javascript", charset="utf-8",
                        headers={"Cache-Control": f"public, max-age={SCRIPT_MAX_AGE_S}"})


def too_many(reason: str, wait_s: float) -> web.Response:
    """429: nothing is kept (the script sends the batch again after Retry-After)."""
    return web.json_response({"error": reason}, status=429, headers={"Retry-After": retry_after(wait_s)})
