"""What a page may do with a public write key: CORS answers, key checks, and the scope of a key.

Stories: a shop's page on its own origin gets the CORS headers, a page elsewhere gets none; a
revoked or unknown key, or a page on another origin, is refused with a reason; whatever a key's
holder sends, it cannot publish a store event, claim a CRM id or set what the edge sets.
"""

from __future__ import annotations

from typing import Any

import pytest

from foundation.settings import CollectorSettings, WriteKey
from producers.web.access import (
    BROWSER_EVENT_TYPES,
    KeyRefused,
    browser_origins,
    check_key,
    cors_headers,
    offered_key,
    page_result,
    preflight_headers,
    scope_problem,
)
from schemas.channels import WEB
from schemas.journeymap import load_journey_map
from schemas.validation import Rejection

SHOP = "https://shop.example"
SHOP_KEY = WriteKey(key="wk_shop_0123456789", site="shop", origins=[SHOP + "/"])
BLOG_KEY = WriteKey(key="wk_blog_0123456789", site="blog")
OLD_KEY = WriteKey(key="wk_old_01234567890", site="old", origins=["https://old.example"], revoked=True)
COLLECTOR = CollectorSettings(allowed_origins=["https://blog.example"], write_keys=[SHOP_KEY, BLOG_KEY, OLD_KEY])


def page_event(**changes: Any) -> dict[str, Any]:
    return {"channel": "web", "touchpoint": "web.product", "event_type": "product_view",
            "event_time": "2026-03-02T09:30:00Z", "source_id": "b-1", "identifiers": {"anonymous_id": "a-1"},
            "context": {"device_type": "mobile"}, "measures": {"path": "/products/kettle"}} | changes


def test_the_origins_are_the_allowed_list_and_each_live_keys_own_normalised() -> None:
    assert browser_origins(COLLECTOR) == {"https://blog.example", SHOP}


def test_an_allowed_origin_gets_the_cors_headers_and_any_other_none() -> None:
    allowed = browser_origins(COLLECTOR)
    assert cors_headers(SHOP, allowed)["Access-Control-Allow-Origin"] == SHOP
    assert "Retry-After" in cors_headers(SHOP, allowed)["Access-Control-Expose-Headers"]
    for other in ("https://evil.example", "https://old.example", "null", None, "https://shop.example.evil"):
        assert "Access-Control-Allow-Origin" not in cors_headers(other, allowed)


def test_the_preflight_allows_a_post_with_a_content_type_and_no_credentials() -> None:
    headers = preflight_headers(SHOP, browser_origins(COLLECTOR))
    assert headers is not None and headers["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in headers["Access-Control-Allow-Methods"] and headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert "Access-Control-Allow-Credentials" not in headers
    assert preflight_headers("https://evil.example", browser_origins(COLLECTOR)) is None


def test_the_key_comes_from_the_query_first_then_the_body() -> None:
    assert offered_key("q", {"write_key": "b"}) == "q"
    assert offered_key(None, {"write_key": "b", "events": []}) == "b"
    assert offered_key(None, [page_event()]) is None and offered_key(None, {"write_key": 7}) is None


def test_a_live_key_from_its_origin_is_accepted() -> None:
    assert check_key(SHOP_KEY.key, SHOP, COLLECTOR) == SHOP_KEY
    assert check_key(BLOG_KEY.key, "https://blog.example", COLLECTOR) == BLOG_KEY  # no own origins: the list


@pytest.mark.parametrize(("key", "origin", "reason"), [
    ("wk_nobody_0123456789", SHOP, "unknown write key"),
    (OLD_KEY.key, "https://old.example", "revoked"),
    (SHOP_KEY.key, "https://evil.example", "origin 'https://evil.example' is not allowed for site 'shop'"),
    (SHOP_KEY.key, "https://blog.example", "not allowed for site 'shop'"),
    (BLOG_KEY.key, SHOP, "not allowed for site 'blog'"),
    (SHOP_KEY.key, None, "has no Origin"),
])
def test_a_key_is_refused_with_a_reason(key: str, origin: str | None, reason: str) -> None:
    refused = check_key(key, origin, COLLECTOR)
    assert isinstance(refused, KeyRefused) and refused.status == 403 and reason in refused.reason


def test_an_unknown_key_is_not_echoed_whole() -> None:
    refused = check_key("wk_secretish_0123456789abcdef", SHOP, COLLECTOR)
    assert isinstance(refused, KeyRefused) and "0123456789abcdef" not in refused.reason


def test_a_page_event_is_in_scope() -> None:
    assert scope_problem(page_event()) is None
    assert scope_problem(page_event(identifiers={"anonymous_id": "a-1", "email_hash": "0" * 64})) is None


@pytest.mark.parametrize(("changes", "path", "reason"), [
    ({"channel": "store", "touchpoint": "store.checkout", "event_type": "purchase"}, "channel", "only web events"),
    ({"event_type": "order_placed"}, "event_type", "must come from a server"),
    ({"event_id": "00000000-0000-0000-0000-000000000000"}, "event_id", "never by a page"),
    ({"received_time": "2026-03-02T09:30:00Z"}, "received_time", "never by a page"),
    ({"segment": "vip"}, "segment", "never by a page"),
    ({"identifiers": {"anonymous_id": "a-1", "crm_id": "C-1"}}, "identifiers.crm_id", "may not be sent"),
    ({"identifiers": {"loyalty_id": "L-77"}}, "identifiers.loyalty_id", "may not be sent"),
])
def test_a_key_cannot_publish_a_store_event_or_a_server_only_field(changes: dict[str, Any], path: str,
                                                                   reason: str) -> None:
    problem = scope_problem(page_event(**changes))
    assert problem is not None and problem[0] == path and reason in problem[1]
    result = page_result(page_event(**changes), "shop", "collector", load_journey_map())
    assert isinstance(result, Rejection) and "site 'shop'" in result.reason


def test_every_browser_event_type_is_a_web_event_type() -> None:
    assert set(WEB.event_types) >= BROWSER_EVENT_TYPES


def test_a_page_source_id_is_namespaced_by_its_site() -> None:
    shop = page_result(page_event(), "shop", "collector", load_journey_map())
    blog = page_result(page_event(), "blog", "collector", load_journey_map())
    assert not isinstance(shop, Rejection) and not isinstance(blog, Rejection)
    assert shop.source_id == "shop:b-1" and shop.event_id != blog.event_id
