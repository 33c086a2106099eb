"""The web beacon in a real browser: a shop's pages load the script from the collector's origin.

Story: a visitor lands on a product page of the shop (one origin) from a newsletter link whose
query holds their e-mail address, goes on to the checkout, where the shop's backend identifies them
by their e-mail hash, sees the basket screen, reaches step 1, clicks "buy", and the page throws a
JavaScript error; then the tab is closed. The script, loaded from the collector on
another origin, sends every event (by fetch, and by sendBeacon as the pages go away); they reach
the raw topic with the visitor's anonymous id, the device context and no e-mail address, and the
worker takes them all into the warehouse. A page from an origin that is
not allowed, and a page with a revoked key, get nothing in and leave a dead letter each.
Driven in Debian's headless Chromium (tests/producers/chromium.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from foundation.kafka import topic
from foundation.settings import CollectorSettings, Settings, WriteKey
from producers.collector import running_collector
from producers.publisher import Publisher
from schemas.outputs import DEADLETTER_TOPIC, DeadLetter, raw_topic
from streams.core.identity import customer_id_for
from tests.producers.chromium import chromium_tab
from tests.producers.readback import read_topic
from tests.reliability.harness import dump, pipeline_settings, prepare, run_until_idle

SHOP_KEY, OLD_KEY = "wk_shop_0123456789", "wk_old_01234567890"
TOUCHPOINTS = {"/products": "web.product/product_view", "/checkout": "web.checkout"}
LANDING = "/products/kettle?email=ann.lee%40example.com&ref=ann.lee@example.com&utm_source=news&utm_campaign=spring"
CLEANED = {  # the script's URL cleaning: what a page sends as path or referrer
    '"/call/07700%20900123?phone=1&q=ann%40x.org&d=2026-03-02", true': "/call/[phone]?q=[email]&d=2026-03-02",
    '"https://mail.example/inbox/ann.lee@example.com?Email=a", false': "https://mail.example/inbox/[email]",
    '"/orders/+44%207700%20900123/12345678", true': "/orders/[phone]/12345678",
}
CLEAN = ", ".join(f"journeys.clean({arguments})" for arguments in CLEANED)
RETRY_WAIT_S = 4.0
SHOP_EVENTS = 6  # product_view, page_view (checkout), screen_view, checkout_step, click, error
EMAIL_HASH = "7fbfcce496fc635fc8e683208931f7a27771a88eaf2867766644eb36c3431567"  # handed by the shop's backend


class Pages:
    """Small HTML pages on their own 127.0.0.1 origin, each loading the collector's script with a
    key: the shop's key, or the revoked one for a path under /old/."""

    def __init__(self) -> None:
        self.collector_url = ""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(owner.page(OLD_KEY if self.path.startswith("/old/") else SHOP_KEY))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, key: str) -> bytes:
        init = json.dumps({"key": key, "flushMs": 60000, "touchpoints": TOUCHPOINTS})
        return (f'<!doctype html><title>shop</title><script src="{self.collector_url}/v1/journeys.js"></script>'
                f'<script>journeys.init({init});</script><button data-journeys-click="buy">Buy</button>').encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pages() -> Iterator[tuple[Pages, Pages]]:
    """The shop's origin, and another origin no key allows."""
    shop, elsewhere = Pages(), Pages()
    yield shop, elsewhere
    shop.close()
    elsewhere.close()


@pytest.fixture
def collector(settings: Settings, tmp_path: Path, pages: tuple[Pages, Pages]) -> Iterator[Settings]:
    """The pipeline's topics and warehouse, and the collector the pages load their script from."""
    shop, elsewhere = pages
    keys = [WriteKey(key=SHOP_KEY, site="shop", origins=[shop.origin]),
            WriteKey(key=OLD_KEY, site="old", origins=[shop.origin], revoked=True)]
    local = pipeline_settings(settings, tmp_path).model_copy(update={"collector": CollectorSettings(
        tokens=[SecretStr("server-token")], write_keys=keys)})
    prepare(local)
    with Publisher.connect(local, source="collector") as pub, running_collector(local, pub) as url:
        shop.collector_url = elsewhere.collector_url = url
        yield local


async def visit_the_shop(shop: Pages) -> list[Any]:
    """Land on a product page, go to the checkout, step 1, click, an error; close the tab."""
    async with chromium_tab() as tab:
        await tab.open(shop.origin + LANDING)
        loaded = [await tab.evaluate("journeys.version"), await tab.evaluate(f"[{CLEAN}]")]
        await tab.open(shop.origin + "/checkout", referrer=shop.origin + LANDING)  # the product page's
        # view leaves by sendBeacon as it goes
        await tab.evaluate(f"journeys.identify('{EMAIL_HASH}'); journeys.checkoutStep(1); "
                           "journeys.screen('basket'); document.querySelector('button').click(); journeys.flush()")
        await tab.evaluate("setTimeout(() => { throw new TypeError('boom'); }, 0); "
                           "new Promise(done => setTimeout(() => done(1), 300))")
        await tab.close()  # the error leaves by sendBeacon as the page is hidden
        return loaded


async def visit_and_close(url: str) -> None:
    async with chromium_tab() as tab:
        await tab.open(url)
        await tab.close()


def test_a_visit_reaches_the_warehouse_and_refused_pages_leave_dead_letters(
        collector: Settings, pages: tuple[Pages, Pages]) -> None:
    settings, (shop, elsewhere) = collector, pages
    assert asyncio.run(visit_the_shop(shop)) == ["1", list(CLEANED.values())]
    records = read_topic(settings, topic(settings, raw_topic("web")), SHOP_EVENTS)
    assert all(b"example.com" not in r.value and b"@" not in r.value for r in records)
    events = [json.loads(r.value) for r in records]
    assert sorted(e["event_type"] for e in events) == ["checkout_step", "click", "error", "page_view", "product_view",
                                                        "screen_view"]
    by_type = {e["event_type"]: e for e in events}
    visitor = by_type["product_view"]["identifiers"]["anonymous_id"]
    assert [{k: v for k, v in by_type[kind]["identifiers"].items() if v} for kind in ("product_view", "page_view", "checkout_step", "error")] == \
        [{"anonymous_id": visitor}] * 2 + [{"anonymous_id": visitor, "email_hash": EMAIL_HASH}] * 2
    landing, error = by_type["product_view"], by_type["error"]
    assert landing["touchpoint"] == "web.product" and by_type["checkout_step"]["touchpoint"] == "web.checkout"
    assert landing["measures"]["path"] == "/products/kettle?ref=[email]&utm_source=news&utm_campaign=spring"
    assert landing["context"] | {"locale": "-"} == {"device_type": "desktop", "browser": "chrome", "os": "linux",
                                                    "locale": "-", "utm_source": "news", "utm_campaign": "spring"}
    assert error["measures"]["error_kind"] == "javascript" and error["measures"]["error_code"] == "TypeError"
    assert by_type["checkout_step"]["measures"]["checkout_step"] == 1 and by_type["click"]["measures"]["element"] == "buy"
    assert by_type["screen_view"]["measures"]["screen"] == "basket"
    assert by_type["page_view"]["measures"]["referrer"] == shop.origin + landing["measures"]["path"]

    asyncio.run(visit_and_close(elsewhere.origin + "/products/kettle"))
    asyncio.run(visit_and_close(shop.origin + "/old/products/kettle"))
    letters = [DeadLetter.model_validate_json(r.value)
               for r in read_topic(settings, topic(settings, DEADLETTER_TOPIC), 2)]
    assert sorted(letter.reason for letter in letters) == [
        f"origin {elsewhere.origin!r} is not allowed for site 'shop'", "the write key of site 'old' is revoked"]
    assert len(read_topic(settings, topic(settings, raw_topic("web")), SHOP_EVENTS + 1, timeout_s=2)) == SHOP_EVENTS

    run_until_idle(settings)
    touchpoints = dump(settings, "--all")["touchpoints"]
    # the visit before identify() is the device's; from then on the events are keyed by the e-mail hash
    # (the strongest identifier) and belong to that customer unless the map's evidence rules merge them
    customers = {customer_id_for(f"anonymous_id:{visitor}"), customer_id_for(f"email_hash:{EMAIL_HASH}")}
    rows = [row for row in touchpoints if any(c in row for c in customers)]
    assert len(rows) == len(touchpoints) == SHOP_EVENTS
    assert sum(customer_id_for(f"anonymous_id:{visitor}") in row for row in rows) >= 2
    assert all("'device_type': 'desktop'" in row for row in rows)
    assert [sum(f"'{kind}'" in row for row in rows) for kind in sorted(by_type)] == [1] * SHOP_EVENTS


DEVICES = [  # user agent, viewport, what the script says: device_type, browser, os
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Mobile/15E148 Safari/604.1", (390, 844, True), ("mobile", "safari", "ios")),
    ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
     (1200, 800, True), ("tablet", "chrome", "android")),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 "
     "Safari/537.36 Edg/124.0", (1400, 900, False), ("desktop", "edge", "windows")),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", (480, 800, False),
     ("mobile", "firefox", "linux")),  # no device in the user agent: a narrow viewport decides
]


@contextmanager
def shop_collector(settings: Settings, shop: Pages, **limits: Any) -> Iterator[Settings]:
    """Only the collector (with these rate limits) and the raw topics."""
    local = settings.model_copy(update={"collector": CollectorSettings(
        tokens=[SecretStr("server-token")], write_keys=[WriteKey(key=SHOP_KEY, site="shop", origins=[shop.origin])],
        **limits)})
    with Publisher.connect(local, source="collector") as pub, running_collector(local, pub) as url:
        shop.collector_url = url
        yield local


async def visit_as_devices(shop: Pages) -> None:
    async with chromium_tab() as tab:
        for n, (user_agent, (width, height, mobile), _) in enumerate(DEVICES):
            await tab.pose_as(user_agent, width, height, mobile)
            await tab.open(f"{shop.origin}/device/{n}")
        await tab.close()


def test_the_device_context_comes_from_the_user_agent_and_the_viewport(topics: Settings,
                                                                        pages: tuple[Pages, Pages]) -> None:
    with shop_collector(topics, pages[0]) as settings:
        asyncio.run(visit_as_devices(pages[0]))
        events = [json.loads(r.value) for r in read_topic(settings, topic(settings, raw_topic("web")), 4)]
    seen = {e["measures"]["path"]: e["context"] for e in events}
    assert [(seen[f"/device/{n}"]["device_type"], seen[f"/device/{n}"]["browser"], seen[f"/device/{n}"]["os"])
            for n in range(len(DEVICES))] == [expected for _, _, expected in DEVICES]


async def send_twice_quickly(shop: Pages) -> list[Any]:
    """Two flushes in a row: the second is answered 429 and must be sent again after Retry-After."""
    async with chromium_tab() as tab:
        await tab.open(shop.origin + "/products/kettle")
        sent = [await tab.evaluate("journeys.flush()")]
        sent.append(await tab.evaluate("new Promise(done => setTimeout(() => { journeys.track('click', "
                                       "{element: 'again'}); journeys.flush(); done(1); }, 300))"))
        await asyncio.sleep(RETRY_WAIT_S)  # Retry-After 1 s, backoff 2 s: the batch goes again in 2 s
        return sent


def test_a_batch_answered_429_is_sent_again_after_retry_after(topics: Settings, pages: tuple[Pages, Pages]) -> None:
    with shop_collector(topics, pages[0], key_rate_per_s=1.0, key_burst=1) as settings:
        asyncio.run(send_twice_quickly(pages[0]))
        events = [json.loads(r.value) for r in read_topic(settings, topic(settings, raw_topic("web")), 2)]
    assert sorted(e["event_type"] for e in events) == ["click", "product_view"]
