"""The warehouse answers while the pipeline runs: `journeys query` asks the worker that holds it.

Story: a worker with its sink runs on the local broker and owns its embedded warehouse (chDB: one
process per data path). A simulation is published and loaded. While the worker runs, `journeys
query funnel` (another process) answers through the worker's read endpoint; after the worker has
stopped, the same command reads the warehouse directly, and both give the same rows. The endpoint
serves CSV and the live map page, refuses unknown queries, and asks for a token off loopback.
"""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from clickhouse.migrate import migrate
from foundation.settings import ReadsSettings, Settings
from journeys.readclient import served_url
from journeys.reads import QueryTooLongError, Reads, start
from schemas.journeymap import load_journey_map
from tests.journeys.served import loaded, publish, serving_worker
from tests.reliability import harness as h

CUSTOMERS = 40
SEED = 11


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def running(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """A worker with its sink, holding its own embedded warehouse, with a simulation loaded."""
    with serving_worker(settings, tmp_path) as (local, url):
        loaded(local, publish(local, CUSTOMERS, SEED))
        yield local, url


def funnel_rows(settings: Settings) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = orjson.loads(h.journeys(settings, "query", "funnel", "--format", "json").stdout)
    return rows


ANALYSES = (("funnel", "--step", "web.product:product_view", "--step", "web.checkout", "--within", "7d", "--by",
             "device_type"),
            ("paths", "--from-step", "web.product", "--depth", "2"),
            ("conformance",))


HALF = (h.START + timedelta(days=h.DAYS / 2)).strftime("%Y-%m-%dT%H:%M:%S")
WHOLE = (h.START + timedelta(days=h.DAYS)).strftime("%Y-%m-%dT%H:%M:%S")


def analysis_rows(settings: Settings) -> list[object]:
    """`journeys funnel`, `paths` and `conformance`, as JSON; and `explain` (second half against the first)."""
    found = [orjson.loads(h.journeys(settings, *args, "--format", "json").stdout) for args in ANALYSES]
    explained = orjson.loads(h.journeys(settings, "explain", "--from", HALF, "--to", WHOLE, "--z", "1",
                                        "--format", "json").stdout)
    assert isinstance(explained, list)
    return [*found, explained]


def test_query_answers_while_the_worker_holds_the_warehouse(running: tuple[Settings, str]) -> None:
    local, url = running
    analyses_while_running = analysis_rows(local)  # they failed with "the warehouse is in use" before
    assert all(analyses_while_running[:len(ANALYSES)]), analyses_while_running
    status, listing = get(f"{url}/v1/analyses")
    assert status == 200 and "step_funnel" in {a["name"] for a in orjson.loads(listing)}
    status, answer = get(f"{url}/v1/analyses/step_funnel?steps=web.product,web.chekout")
    assert status == 400 and b"web.chekout" in answer
    assert get(f"{url}/v1/analyses/paths?depth=2&anchor=web.product&sql=1")[0] == 400
    assert get(f"{url}/v1/analyses/nope")[0] == 404
    status, incidents = get(f"{url}/v1/query/incidents?from=2026-01-01&to=2026-05-01")
    assert status == 200 and "columns" in orjson.loads(incidents)
    status, answer = get(f"{url}/v1/explain?from={HALF}&to={WHOLE}&dims=shoe_size")
    assert status == 400 and b"shoe_size" in answer
    while_running = funnel_rows(local)
    assert while_running and int(str(while_running[0]["journeys"])) > 0
    status, csv_body = get(f"{url}/v1/query/friction_top?limit=3&format=csv")
    assert status == 200 and csv_body.decode().startswith("touchpoint,rule,frictions")
    assert get(f"{url}/v1/query/nope")[0] == 404
    assert get(f"{url}/v1/query/funnel?from=yesterday")[0] == 400
    status, page = get(f"{url}/map")
    assert status == 200 and b"Experience map" in page and b"/v1/map/fragment" in page
    h.journeys(local, "map", "--out", str(local.data_dir / "while-running.svg"))
    assert (local.data_dir / "while-running.svg").read_text().startswith("<svg")
    stop_worker(local)
    assert funnel_rows(local) == while_running  # now read directly: the same rows
    assert analysis_rows(local) == analyses_while_running


def stop_worker(settings: Settings) -> None:
    """The fixture's worker, stopped now (its pid is in the address file), so the warehouse is free."""
    import json
    import os

    pid = json.loads((settings.data_dir / "reads.json").read_text())["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + h.STOP_TIMEOUT_S
    while served_url(settings) is not None or (settings.data_dir / "warehouse" / "status").exists():
        assert time.monotonic() < deadline, "the worker did not stop"
        time.sleep(0.2)


def test_an_endpoint_off_loopback_needs_a_token(settings: Settings, tmp_path: Path) -> None:
    # The session's embedded warehouse (chDB opens one path per process), or one of its own under tmp_path.
    dsn = settings.clickhouse.dsn if settings.clickhouse.dsn.startswith("chdb:") else ""
    embedded = settings.model_copy(update={"data_dir": tmp_path, "clickhouse": settings.clickhouse.model_copy(
        update={"dsn": dsn})})
    assert start(embedded.model_copy(update={"reads": ReadsSettings(host="0.0.0.0", port=0)})) is None
    assert start(embedded.model_copy(update={"reads": ReadsSettings(host="192.0.2.1", port=0,  # not ours
                                                                        token=SecretStr("s3cret"))})) is None
    server = start(embedded.model_copy(update={"reads": ReadsSettings(host="127.0.0.1", port=0,
                                                                        token=SecretStr("s3cret"))}))
    assert server is not None
    try:
        assert get(f"{server.url}/healthz")[0] == 401
        assert get(f"{server.url}/healthz?token=s3cret")[0] == 200
        request = urllib.request.Request(f"{server.url}/healthz", headers={"Authorization": "Bearer s3cret"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        from journeys.reads import stop

        stop(server, embedded)
    assert served_url(embedded) is None


def test_an_empty_token_is_no_token_and_a_foreign_host_is_refused(settings: Settings, tmp_path: Path) -> None:
    """Found by an attacker's review: JOURNEYS_READS__TOKEN= (empty) served 0.0.0.0 to everyone, and
    without a token any Host was answered (a web page could read the warehouse by DNS rebinding)."""
    dsn = settings.clickhouse.dsn if settings.clickhouse.dsn.startswith("chdb:") else ""
    embedded = settings.model_copy(update={"data_dir": tmp_path, "clickhouse": settings.clickhouse.model_copy(
        update={"dsn": dsn})})
    assert start(embedded.model_copy(update={"reads": ReadsSettings(host="0.0.0.0", port=0, token=SecretStr(""))})) is None
    server = start(embedded.model_copy(update={"reads": ReadsSettings(host="127.0.0.1", port=0)}))
    assert server is not None
    try:
        assert get(f"{server.url}/healthz")[0] == 200
        rebound = urllib.request.Request(f"{server.url}/healthz", headers={"Host": "evil.example:8089"})
        try:
            status = urllib.request.urlopen(rebound, timeout=10).status
        except urllib.error.HTTPError as err:
            status = err.code
        assert status == 401
    finally:
        from journeys.reads import stop

        stop(server, embedded)


def test_a_read_that_runs_too_long_is_stopped_and_the_endpoint_goes_on(settings: Settings) -> None:
    """Left from a review: one slow read held the single warehouse client with no limit, so every other
    reader (the live map, `journeys query`) waited behind it. The warehouse now stops a read at
    reads.max_query_s, the caller is told which setting, and the next read is answered."""
    limited = settings.model_copy(update={"reads": ReadsSettings(port=0, max_query_s=0.3)})
    reads = Reads(limited, load_journey_map())
    migrate(reads._connected(), settings.clickhouse.ttl_days)
    try:
        began = time.monotonic()
        # No named query is this slow on a test warehouse: a plain one stands for it, on the endpoint's client.
        with (pytest.raises(QueryTooLongError, match=r"longer than 0\.3 s.*JOURNEYS_READS__MAX_QUERY_S"),
              reads._lock, reads._bounded("a slow read")):
            reads._connected().query("SELECT sum(number) FROM numbers(100000000000)")
        assert time.monotonic() - began < 30
        assert reads.query("funnel", {}).rows == []  # answered (an empty warehouse): the client and lock are free
    finally:
        reads._connected().command(f"DROP DATABASE IF EXISTS `{settings.clickhouse.database}`")
        reads.close()
