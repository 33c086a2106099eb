"""The web beacon collector, served in-process on a free port, spoken to over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr

from foundation.kafka import topic
from foundation.settings import CollectorSettings, Settings
from producers.collector import create_app, running_collector
from producers.publisher import Publisher
from schemas.channels import event_adapter
from schemas.errors import ConfigError
from schemas.outputs import DEADLETTER_TOPIC, DeadLetter, raw_topic
from tests.producers.conftest import sample_events
from tests.producers.readback import read_topic

TOKEN = "beacon-token-1"
HTTP_TIMEOUT_S = 15


@pytest.fixture
def collector(topics: Settings) -> Iterator[tuple[str, Settings]]:
    settings = topics.model_copy(update={"collector": CollectorSettings(
        tokens=[SecretStr("other-token"), SecretStr(TOKEN)], max_body_bytes=64 * 1024, max_batch_events=50)})
    with Publisher.connect(settings, source="collector") as pub, running_collector(settings, pub) as url:
        yield url, settings


def post(url: str, body: bytes, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(url + "/v1/events", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def web_payloads(settings: Settings, n: int) -> list[dict[str, Any]]:
    base = sample_events(settings)[0].model_dump(mode="json")
    return [base | {"source_id": f"beacon-{i}", "event_id": ""} for i in range(n)]


def test_a_valid_batch_is_accepted_and_read_back_equal(collector: tuple[str, Settings]) -> None:
    url, settings = collector
    payloads = web_payloads(settings, 30)
    assert post(url, json.dumps(payloads[:20]).encode()) == (202, {"accepted": 20, "rejected": 0, "errors": []})
    assert post(url, json.dumps({"events": payloads[20:]}).encode())[1]["accepted"] == 10
    records = read_topic(settings, topic(settings, raw_topic("web")), 30)
    read = sorted((event_adapter().validate_json(r.value) for r in records), key=lambda e: e.source_id)
    sent = sorted((event_adapter().validate_python(p) for p in payloads), key=lambda e: e.source_id)
    assert [e.model_dump(exclude={"received_time"}) for e in read] == \
        [e.model_dump(exclude={"received_time"}) for e in sent]
    assert len({e.event_id for e in read}) == 30


def test_invalid_events_get_their_index_and_reason_and_are_dead_lettered(collector: tuple[str, Settings]) -> None:
    url, settings = collector
    good, bad = web_payloads(settings, 2)
    bad = bad | {"event_type": "teleported"}
    status, answer = post(url, json.dumps([good, bad, 42]).encode())
    assert status == 202 and (answer["accepted"], answer["rejected"]) == (1, 2)
    assert [e["index"] for e in answer["errors"]] == [1, 2]
    assert "event_type" in answer["errors"][0]["reason"]
    letters = [DeadLetter.model_validate_json(r.value)
               for r in read_topic(settings, topic(settings, DEADLETTER_TOPIC), 2)]
    assert {d.source for d in letters} == {"collector"} and len(letters) == 2
    assert any(json.loads(d.payload) == bad for d in letters)


def test_an_email_or_phone_in_an_id_field_is_refused_and_never_published(collector: tuple[str, Settings]) -> None:
    """Ids travel in clear and are not scrubbed: an address or number put in one must not reach Kafka."""
    url, settings = collector
    good, *leaks = web_payloads(settings, 4)
    leaks[0] = leaks[0] | {"identifiers": {"anonymous_id": "Ann.Lee@Example.com"}}
    leaks[1] = leaks[1] | {"measures": {**leaks[1]["measures"], "session_id": "tel:+447700900123"}}
    leaks[2] = leaks[2] | {"source_id": "signup-ann.lee%40example.com"}
    status, answer = post(url, json.dumps([good, *leaks]).encode())
    assert status == 202 and (answer["accepted"], answer["rejected"]) == (1, 3)
    reasons = [e["reason"] for e in answer["errors"]]
    assert reasons[0].startswith("identifiers.anonymous_id: an id cannot hold an e-mail address")
    assert reasons[1].startswith("measures.session_id: an id cannot hold a phone number")
    assert reasons[2].startswith("source_id: an id cannot hold an e-mail address")
    published = read_topic(settings, topic(settings, raw_topic("web")), 1)
    assert [json.loads(r.value)["source_id"] for r in published] == [good["source_id"]]
    letters = read_topic(settings, topic(settings, DEADLETTER_TOPIC), 3)
    assert sorted(DeadLetter.model_validate_json(r.value).kind for r in letters) == \
        ["identifiers", "measures", "source_id"]


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
def test_a_missing_or_wrong_token_is_401(collector: tuple[str, Settings], token: str | None) -> None:
    url, settings = collector
    status, answer = post(url, json.dumps(web_payloads(settings, 1)).encode(), token=token)
    assert status == 401 and "token" in answer["error"]


@pytest.mark.parametrize(("body", "status", "reason"), [
    (b"\xff\xfe[]", 400, "not UTF-8"),
    (b"[{\"channel\": ", 400, "not JSON"),
    (b"{\"event\": []}", 400, "expected a JSON array"),
    (b"[]", 400, "no events"),
    (json.dumps([{}] * 51).encode(), 413, "limit is 50"),
    (b"[" + b" " * 70_000 + b"]", 413, "exceeds"),
])
def test_a_malformed_body_is_refused_with_a_reason(collector: tuple[str, Settings], body: bytes, status: int,
                                                  reason: str) -> None:
    url, _ = collector
    answer = post(url, body)
    assert answer[0] == status and reason in answer[1]["error"]


def test_an_unreadable_body_is_kept_in_the_dead_letter_topic(collector: tuple[str, Settings]) -> None:
    url, settings = collector
    assert post(url, b"\xff not utf-8")[0] == 400
    assert post(url, b"{oops")[0] == 400
    letters = [DeadLetter.model_validate_json(r.value)
               for r in read_topic(settings, topic(settings, DEADLETTER_TOPIC), 2)]
    by_encoding = {d.payload_encoding: d for d in letters}
    assert by_encoding["utf-8"].payload == "{oops" and "not JSON" in by_encoding["utf-8"].reason
    assert "not UTF-8" in by_encoding["base64"].reason


bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                 max_leaves=12).map(lambda v: json.dumps(v).encode()),
)


def test_a_fuzzed_burst_of_bad_bodies_gets_4xx_with_reasons_and_the_collector_keeps_serving(
        collector: tuple[str, Settings]) -> None:
    url, settings = collector
    kept: list[int] = []  # dead letters each answer promises

    @hypothesis_settings(max_examples=120, deadline=None, database=None)
    @given(body=bodies)
    def burst(body: bytes) -> None:
        status, answer = post(url, body)
        if status == 202:  # a well-formed array of garbage: every element refused with a reason
            assert answer["accepted"] == 0 and answer["rejected"] == len(answer["errors"]) > 0
            kept.append(answer["rejected"])
        else:
            assert status in (400, 413) and answer["error"]
            kept.append(1)  # every refused body is kept in the dead-letter topic

    burst()
    assert len(read_topic(settings, topic(settings, DEADLETTER_TOPIC), sum(kept))) == sum(kept)
    assert post(url, json.dumps(web_payloads(settings, 3)).encode())[1]["accepted"] == 3
    health = healthz(url, TOKEN)
    assert health["status"] == "ok" and health["counts"]["published"] == {"web": 3}


def healthz(url: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url + "/healthz", headers=headers)
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
        return dict(json.loads(answer.read()))


def test_the_collector_refuses_to_run_without_a_token(topics: Settings) -> None:
    with Publisher.connect(topics) as pub, pytest.raises(ConfigError):
        create_app(topics, pub)
