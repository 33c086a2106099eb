"""The collector as a page's script meets it: CORS, text/plain bodies, write keys, rate limits.

Spoken to over real HTTP with the headers a browser sends (Origin, text/plain); events read back
from the real broker. A refused key or origin leaves a dead letter and no event; a key's holder
cannot publish outside a page's scope; the server's bearer tokens keep working beside the keys.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from foundation.kafka import topic
from foundation.settings import CollectorSettings, Settings, WriteKey, as_environment
from producers.collector import create_app, running_collector
from producers.publisher import Publisher
from schemas.errors import ConfigError
from schemas.outputs import DEADLETTER_TOPIC, DeadLetter, raw_topic
from tests.producers.readback import read_topic
from tests.producers.test_collector import HTTP_TIMEOUT_S, TOKEN, post, web_payloads

SHOP = "http://shop.example:8000"
KEY = WriteKey(key="wk_shop_0123456789", site="shop", origins=[SHOP])
REVOKED = WriteKey(key="wk_gone_0123456789", site="gone", origins=[SHOP], revoked=True)
ADDRESS_BURST = 12


@pytest.fixture
def collector(topics: Settings) -> Iterator[tuple[str, Settings]]:
    settings = topics.model_copy(update={"collector": CollectorSettings(
        tokens=[SecretStr(TOKEN)], write_keys=[KEY, REVOKED], address_burst=ADDRESS_BURST,
        address_rate_per_s=0.01)})
    with Publisher.connect(settings, source="collector") as pub, running_collector(settings, pub) as url:
        yield url, settings


def send(url: str, body: Any, origin: str | None = SHOP, query: str = "", method: str = "POST",
         ) -> tuple[int, dict[str, str], bytes]:
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "text/plain;charset=UTF-8"} | ({"Origin": origin} if origin else {})
    request = urllib.request.Request(f"{url}/v1/events{query}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def page_event(n: int, **changes: Any) -> dict[str, Any]:
    return {"channel": "web", "touchpoint": "web.content", "event_type": "page_view",
            "event_time": "2026-03-02T09:30:00Z", "source_id": f"b-{n}", "identifiers": {"anonymous_id": f"a-{n}"},
            "context": {"device_type": "desktop", "browser": "chrome"}, "measures": {"path": f"/p/{n}"}} | changes


def letters(settings: Settings, n: int) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(r.value) for r in read_topic(settings, topic(settings, DEADLETTER_TOPIC), n)]


def web_events(settings: Settings, n: int) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in read_topic(settings, topic(settings, raw_topic("web")), n)]


def test_the_preflight_answers_204_with_the_allowed_origin_and_403_elsewhere(collector: tuple[str, Settings]) -> None:
    url, _ = collector
    status, headers, _ = send(url, None, method="OPTIONS")
    assert status == 204 and headers["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Credentials" not in headers
    status, headers, _ = send(url, None, origin="http://evil.example", method="OPTIONS")
    assert status == 403 and "Access-Control-Allow-Origin" not in headers


def test_the_script_is_served_as_javascript(collector: tuple[str, Settings]) -> None:
    url, _ = collector
    with urllib.request.urlopen(url + "/v1/journeys.js", timeout=HTTP_TIMEOUT_S) as answer:
        assert answer.headers["Content-Type"].startswith("application/javascript")
        assert b"window.journeys" in answer.read()


def test_a_text_plain_batch_with_a_key_in_the_body_or_the_query_is_published(collector: tuple[str, Settings]) -> None:
    url, settings = collector
    status, headers, body = send(url, {"write_key": KEY.key, "events": [page_event(1), page_event(2)]})
    assert (status, json.loads(body)["accepted"]) == (202, 2) and headers["Access-Control-Allow-Origin"] == SHOP
    assert send(url, [page_event(3)], query=f"?key={KEY.key}")[0] == 202
    read = web_events(settings, 3)
    assert sorted(e["source_id"] for e in read) == ["shop:b-1", "shop:b-2", "shop:b-3"]
    assert all(e["context"] == {"device_type": "desktop", "browser": "chrome"} for e in read)


@pytest.mark.parametrize(("key", "origin", "reason"), [
    (REVOKED.key, SHOP, "revoked"),
    ("wk_nobody_0123456789", SHOP, "unknown write key"),
    (KEY.key, "http://evil.example", "not allowed for site 'shop'"),
    (KEY.key, None, "no Origin"),
])
def test_a_refused_key_or_origin_gets_nothing_in_and_leaves_a_dead_letter(
        collector: tuple[str, Settings], key: str, origin: str | None, reason: str) -> None:
    url, settings = collector
    status, headers, body = send(url, {"write_key": key, "events": [page_event(1)]}, origin=origin)
    assert status == 403 and reason in json.loads(body)["error"]
    assert "Access-Control-Allow-Origin" not in headers or origin == SHOP
    [letter] = letters(settings, 1)
    assert reason in letter.reason and letter.source == "collector" and "b-1" in letter.payload
    assert send(url, {"write_key": KEY.key, "events": [page_event(2)]})[0] == 202
    assert [e["source_id"] for e in web_events(settings, 1)] == ["shop:b-2"]


def test_a_key_cannot_publish_a_store_event_or_a_server_only_field(collector: tuple[str, Settings]) -> None:
    url, settings = collector
    store = {"channel": "store", "touchpoint": "store.checkout", "event_type": "purchase",
             "event_time": "2026-03-02T09:30:00Z", "identifiers": {"loyalty_id": "L-77"},
             "measures": {"purchase_amount": 5000}}
    hostile = [store, page_event(1, segment="vip"), page_event(2, event_type="order_placed"),
               page_event(3, identifiers={"crm_id": "C-1"}), page_event(4)]
    status, _, body = send(url, {"write_key": KEY.key, "events": hostile})
    answer = json.loads(body)
    assert status == 202 and answer["accepted"] == 1 and [e["index"] for e in answer["errors"]] == [0, 1, 2, 3]
    assert len(letters(settings, 4)) == 4
    assert read_topic(settings, topic(settings, raw_topic("store")), 0, timeout_s=1) == []
    assert [e["source_id"] for e in web_events(settings, 1)] == ["shop:b-4"]


def test_one_address_over_its_burst_gets_429_with_retry_after(collector: tuple[str, Settings]) -> None:
    url, _ = collector
    answers = [send(url, {"write_key": KEY.key, "events": [page_event(n)]}) for n in range(ADDRESS_BURST + 2)]
    assert [a[0] for a in answers] == [202] * ADDRESS_BURST + [429, 429]
    assert int(answers[-1][1]["Retry-After"]) >= 1 and answers[-1][1]["Access-Control-Allow-Origin"] == SHOP


@pytest.mark.parametrize(("body", "status", "reason"), [
    (b"{oops", 400, "not JSON"),
    (b"\xff\xfe", 400, "not UTF-8"),
    (b'{"events": {}}', 400, "expected a JSON array"),
])
def test_a_pages_unreadable_body_with_a_key_is_refused_and_kept(collector: tuple[str, Settings], body: bytes,
                                                                status: int, reason: str) -> None:
    url, settings = collector
    answer = send(url, body, query=f"?key={KEY.key}")
    assert answer[0] == status and reason in json.loads(answer[2])["error"]
    assert answer[1]["Access-Control-Allow-Origin"] == SHOP  # the page's script can read why
    [letter] = letters(settings, 1)
    assert reason in letter.reason


def test_server_tokens_keep_working_beside_write_keys(collector: tuple[str, Settings]) -> None:
    url, settings = collector
    assert post(url, json.dumps(web_payloads(settings, 2)).encode())[0] == 202
    assert post(url, json.dumps(web_payloads(settings, 1)).encode(), token="wrong")[0] == 401
    assert send(url, [page_event(1)])[0] == 401  # neither a token nor a key


def test_a_write_key_that_is_also_a_token_is_refused_at_start(topics: Settings) -> None:
    settings = topics.model_copy(update={"collector": CollectorSettings(
        tokens=[SecretStr("wk_shop_0123456789")], write_keys=[KEY])})
    with pytest.raises(ConfigError, match="write_keys"):
        create_app(settings, Publisher.__new__(Publisher))


def test_write_keys_travel_to_a_child_process_as_json() -> None:
    settings = Settings(collector=CollectorSettings(write_keys=[KEY, REVOKED]))
    env = as_environment(settings)
    assert [WriteKey(**k) for k in json.loads(env["JOURNEYS_COLLECTOR__WRITE_KEYS"])] == [KEY, REVOKED]
