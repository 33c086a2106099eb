"""The collector's resources stay bounded whatever a client sends or how it behaves.

Counters are keyed by a closed set (registered channels, kinds of rejection), never by names the
input chooses; `/healthz` tells the status alone without a token; a stalled body is answered 408
within the read timeout; connections over the cap are answered 503 at once; a client that drops
its connection is one INFO line, no error, no traceback.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from foundation.settings import CollectorSettings, Settings
from producers.collector import LINGER_S, running_collector
from producers.publisher import Publisher
from schemas.channels import channels
from schemas.deadletters import FIXED_KINDS, field_kinds
from tests.producers.test_collector import TOKEN, healthz, post, web_payloads

READ_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 4
SOCKET_TIMEOUT_S = 8.0
SETTLE_S = 0.5


@pytest.fixture
def collector(topics: Settings) -> Iterator[tuple[str, Settings]]:
    settings = topics.model_copy(update={"collector": CollectorSettings(
        tokens=[SecretStr(TOKEN)], read_timeout_s=READ_TIMEOUT_S, max_connections=MAX_CONNECTIONS)})
    with Publisher.connect(settings, source="collector") as pub, running_collector(settings, pub) as url:
        yield url, settings


def hostile_batch(request: int) -> list[dict[str, object]]:
    """Events whose channel, field and measure names are new in every request."""
    return [{"channel": f"chan-{request}-{i}", "touchpoint": "web.product", f"field-{request}-{i}": 1}
            for i in range(25)] + [
        {"channel": "web", "touchpoint": "web.product", "event_type": "product_view", "event_time": "2026-03-02T09:30:00Z",
         "identifiers": {"anonymous_id": "x"}, f"unknown-{request}-{i}" * 20: "y", "measures": {f"m{request}{i}": 1}}
        for i in range(25)]


def test_counts_stay_bounded_whatever_names_the_input_chooses(collector: tuple[str, Settings]) -> None:
    url, _ = collector
    for request in range(60):
        status, answer = post(url, json.dumps(hostile_batch(request)).encode())
        assert (status, answer["rejected"]) == (202, 50)
    counts = healthz(url, TOKEN)["counts"]
    assert counts["rejected_total"] == 60 * 50
    assert set(counts["rejected"]) <= {*channels(), "unknown"}
    assert set(counts["rejected_by_reason"]) <= FIXED_KINDS | field_kinds(tuple(channels()))
    assert len(json.dumps(counts)) < 2000


def test_healthz_without_a_token_tells_the_status_alone(collector: tuple[str, Settings]) -> None:
    url, settings = collector
    post(url, json.dumps(web_payloads(settings, 1)).encode())
    assert healthz(url) == {"status": "ok"}
    assert healthz(url, TOKEN)["counts"]["published_total"] == 1


def open_request(url: str, declared_bytes: int, sent: bytes) -> socket.socket:
    """A POST whose headers promise `declared_bytes` of body, of which only `sent` is sent."""
    host, port = url.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_S)
    client.sendall(f"POST /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {declared_bytes}\r\n\r\n".encode() + sent)
    return client


def test_a_stalled_body_is_answered_408_within_the_read_timeout(collector: tuple[str, Settings]) -> None:
    url, _ = collector
    started = time.monotonic()
    with open_request(url, 1000, b'[{"channel": ') as client:
        answer = client.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408") and b"not received within" in answer
        assert time.monotonic() - started < READ_TIMEOUT_S + 3
        assert client.recv(4096) == b""  # and the connection is closed
        assert time.monotonic() - started < READ_TIMEOUT_S + LINGER_S + 3


def test_connections_over_the_cap_are_answered_503_at_once(collector: tuple[str, Settings]) -> None:
    url, settings = collector
    host, port = url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_S) for _ in range(MAX_CONNECTIONS)]
    time.sleep(SETTLE_S)
    try:
        status, answer = post(url, json.dumps(web_payloads(settings, 1)).encode())
        assert status == 503 and "too many connections" in answer["error"]
    finally:
        for client in idle:
            client.close()
    time.sleep(SETTLE_S)
    assert post(url, json.dumps(web_payloads(settings, 1)).encode())[0] == 202


def test_a_client_that_drops_is_one_info_line(collector: tuple[str, Settings], caplog: pytest.LogCaptureFixture) -> None:
    url, settings = collector
    caplog.set_level(logging.INFO)
    with open_request(url, 100_000, b'[{"channel": "web"'):
        time.sleep(SETTLE_S)
    time.sleep(SETTLE_S)
    assert post(url, json.dumps(web_payloads(settings, 1)).encode())[0] == 202  # still serving
    served = [r for r in caplog.records if r.name.startswith(("producers", "aiohttp"))]
    assert not [r for r in served if r.levelno >= logging.WARNING or r.exc_info], [r.getMessage() for r in served]
    dropped = [r for r in served if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and dropped[0].levelno == logging.INFO
