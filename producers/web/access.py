"""Producers stage, pure core: what a browser may do with a public write key.

A write key sits in a page's JavaScript, so anyone can read it and send with it. The collector
therefore lets it do little: send web events of the kinds a page sees (views, clicks, errors,
checkout steps), from the origins listed for its site, with only the identifiers a page can know
(its own anonymous id, and an e-mail hash its backend handed it). Orders, CRM or loyalty ids,
other channels and the fields the edge sets (event id, received time, segment) come from servers,
with a bearer token. A page's `source_id` is namespaced by its site, so a page cannot collide with
(and so overwrite) a server's event. CORS answers follow the same origin list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from foundation.settings import CollectorSettings, WriteKey
from schemas.events import TouchpointEventBase
from schemas.journeymap import JourneyMap
from schemas.validation import Edge, Problem, Rejection, reject, validate

WEB = "web"
BROWSER_EVENT_TYPES = frozenset({
    "page_view", "screen_view", "product_view", "search", "compare", "help_view", "add_to_cart",
    "checkout_step", "checkout_abandoned", "click", "error", "back_step", "wishlist_add", "chat_started",
    "survey", "feedback",
})
BROWSER_IDENTIFIERS = frozenset({"anonymous_id", "email_hash"})
SERVER_ONLY_FIELDS = ("event_id", "received_time", "segment")
PREFLIGHT_MAX_AGE_S = 600


@dataclass(frozen=True)
class KeyRefused:
    """A browser request refused before its events are looked at: the HTTP status and why."""

    status: int
    reason: str


def _origin(value: str) -> str:
    return value.strip().rstrip("/").lower()


def browser_origins(collector: CollectorSettings) -> frozenset[str]:
    """Every origin a page may send from: the allowed list and each live key's own origins."""
    keyed = (o for k in collector.write_keys if not k.revoked for o in k.origins)
    return frozenset(_origin(o) for o in (*collector.allowed_origins, *keyed))


def cors_headers(origin: str | None, allowed: frozenset[str]) -> dict[str, str]:
    """Headers that let a page on an allowed origin read the answer; none for any other origin."""
    if not origin or _origin(origin) not in allowed:
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Expose-Headers": "Retry-After"}


def preflight_headers(origin: str | None, allowed: frozenset[str]) -> dict[str, str] | None:
    """The 204 answer's headers to `OPTIONS /v1/events` from an allowed origin; None refuses it.
    No credentials are allowed: the script sends no cookies, its key travels in the body."""
    headers = cors_headers(origin, allowed)
    if "Access-Control-Allow-Origin" not in headers:
        return None
    return headers | {"Access-Control-Allow-Methods": "POST, OPTIONS", "Access-Control-Allow-Headers": "Content-Type",
                      "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S)}


def offered_key(query_key: str | None, document: Any) -> str | None:
    """The write key a request offers: `?key=` first, else the body's `write_key`."""
    if query_key:
        return query_key
    body_key = document.get("write_key") if isinstance(document, dict) else None
    return body_key if isinstance(body_key, str) and body_key else None


def check_key(offered: str, origin: str | None, collector: CollectorSettings) -> WriteKey | KeyRefused:
    """The write key a request may use, or why it is refused (unknown, revoked, wrong origin)."""
    found = next((k for k in collector.write_keys if k.key == offered), None)
    if found is None:
        return KeyRefused(403, f"unknown write key {offered[:8]!r}...")
    if found.revoked:
        return KeyRefused(403, f"the write key of site {found.site!r} is revoked")
    if not origin:
        return KeyRefused(403, f"a write key is for pages: the request (site {found.site!r}) has no Origin")
    allowed = found.origins or collector.allowed_origins
    if _origin(origin) not in {_origin(o) for o in allowed}:
        return KeyRefused(403, f"origin {origin!r} is not allowed for site {found.site!r}")
    return found


def scope_problem(item: Any) -> tuple[str, str] | None:
    """(field path, reason) when an event is outside what a write key may send, else None."""
    if not isinstance(item, Mapping):
        return None  # not an event at all: validation names that
    if item.get("channel") != WEB:
        return "channel", f"a write key may send only web events, not channel {item.get('channel')!r}"
    if item.get("event_type") not in BROWSER_EVENT_TYPES:
        return "event_type", f"event type {item.get('event_type')!r} must come from a server (bearer token)"
    for name in SERVER_ONLY_FIELDS:
        if name in item:
            return name, f"{name} is set by the collector or a server, never by a page"
    identifiers = item.get("identifiers")
    extra = sorted(set(identifiers) - BROWSER_IDENTIFIERS) if isinstance(identifiers, Mapping) else []
    if extra:
        return f"identifiers.{extra[0]}", (f"identifier {extra[0]} may not be sent from a page "
                                           f"(only {', '.join(sorted(BROWSER_IDENTIFIERS))})")
    return None


def scoped(item: Any, site: str) -> Any:
    """An event from a page of `site`, its source_id namespaced by the site."""
    if isinstance(item, dict) and isinstance(item.get("source_id"), str):
        return item | {"source_id": f"{site}:{item['source_id']}"}
    return item


def page_result(item: Any, site: str, source: str, journey_map: JourneyMap | None,
                edge: Edge | None = None) -> TouchpointEventBase | Rejection:
    """An event from a page of `site`: refused when outside a write key's scope, else validated."""
    problem = scope_problem(item)
    if problem is not None:
        return reject(orjson.dumps(item), source, [Problem(problem[0], f"site {site!r}: {problem[1]}")])
    return validate(orjson.dumps(scoped(item, site)), source, journey_map, edge)
