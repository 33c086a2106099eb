"""Security: constant-time bearer tokens, body limits, no secrets in output or logs, bound SQL
parameters behind every CLI filter, a read-only dashboards user, and Kafka SASL/TLS settings
reaching every client (kafka-python producer, consumer and admin; the aiokafka bulk path; the
Faust worker and sink).
"""

from __future__ import annotations

import inspect
import ssl
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import certifi
import orjson
import pytest
from pydantic import SecretStr

import foundation.erasure_list
from clickhouse.agents import sink_app
from clickhouse.queries import QUERIES
from foundation import kafka as journeys_kafka
from foundation.settings import ClickHouseSettings, CollectorSettings, KafkaSettings, Settings
from producers import beacon
from producers.fastpath import aiokafka_options
from schemas.erasure import ErasureList
from streams.worker import create_app
from tests.reliability import harness as h

SECRETS = {"pii": "pii-SECRET-7d41c0", "token": "tok-SECRET-a9e3f2", "clickhouse": "ch-SECRET-51b7aa",
           "sasl": "sasl-SECRET-c3d9e0"}
INJECTION = "x' OR '1'='1' OR channel != '') UNION ALL SELECT name FROM system.tables --"
DROP = "'; DROP TABLE journeys; --"
NOTHING = "zz-no-such-value"
USERS_XML = Path(__file__).parents[2] / "clickhouse" / "server" / "users.d" / "journeys.xml"


def test_bearer_tokens_are_compared_in_constant_time() -> None:
    tokens = [SecretStr("first-token-0000"), SecretStr("second-token-111")]
    calls: list[Any] = []

    def watch(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call":
            calls.append(arg)

    sys.setprofile(watch)
    try:
        decided = beacon.authorized("Bearer second-token-112", tokens)
    finally:
        sys.setprofile(None)
    compared = [c for c in calls if getattr(c, "__name__", "") == "compare_digest"]
    assert not decided and len(compared) == len(tokens)  # every token compared by hmac.compare_digest
    assert "compare_digest" in inspect.getsource(beacon.authorized) and "==" not in inspect.getsource(beacon.authorized)
    assert beacon.authorized("Bearer second-token-111", tokens)
    for wrong in ("Bearer second-token-11", "Bearer second-token-1111", "Bearer SECOND-TOKEN-111", "second-token-111",
                  "Basic second-token-111", "", None):
        assert not beacon.authorized(wrong, tokens), wrong


def test_body_limits_hold() -> None:
    with pytest.raises(ValueError):
        CollectorSettings(max_body_bytes=10)  # a limit too small to be meant is refused
    from schemas.validation import MAX_EVENT_BYTES, validate

    assert "limit" in getattr(validate(b"{" + b" " * MAX_EVENT_BYTES + b"}", "t"), "reason", "")


def secret_settings(settings: Settings, tmp: Path) -> Settings:
    local = h.pipeline_settings(settings, tmp)
    return local.model_copy(update={
        "pii_secret": SecretStr(SECRETS["pii"]), "log_level": "DEBUG",
        "collector": CollectorSettings(tokens=[SecretStr(SECRETS["token"])]),
        "clickhouse": local.clickhouse.model_copy(update={"password": SecretStr(SECRETS["clickhouse"])}),
        "kafka": local.kafka.model_copy(update={"sasl_username": "journeys", "sasl_password": SecretStr(SECRETS["sasl"])})})


@pytest.fixture(scope="module")
def secured(bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A pipeline run with every secret set and DEBUG logs: the worker with its sink, on a small simulation."""
    tag = uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("secured")
    base = Settings(data_dir=tmp, kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, topic_prefix=f"t{tag}.",
                                                      session_timeout_ms=2000, heartbeat_interval_ms=666),
                    clickhouse=ClickHouseSettings(database=f"journeys_{tag}"))
    local = secret_settings(base, tmp)
    h.prepare(local)
    with h.publishing(local, h.simulation_of(30, seed=9100), rate=None):
        pass
    h.run_until_idle(local)
    return local


def test_no_secret_reaches_output_or_logs(secured: Settings) -> None:
    said = [h.journeys(secured, *args, check=False) for args in (
        ("migrate",), ("query", "funnel"), ("forget", "email:ann@example.com", "--dry-run"),
        ("import", "--channel", "call_centre", "--mapping", str(h.MAPPINGS / "call_centre_cdr.yaml"),
         str(h.MAPPINGS / "samples" / "cdr.csv")))]
    server = secured.model_copy(update={"clickhouse": ClickHouseSettings(
        dsn=f"http://journeys:{SECRETS['clickhouse']}@127.0.0.1:1", password=SecretStr(SECRETS["clickhouse"]))})
    failed = h.journeys(server, "query", "funnel", check=False)
    assert failed.returncode != 0 and b"***" in failed.stderr  # the DSN's password is masked
    texts = [r.stdout + r.stderr for r in [*said, failed]]
    files = [*secured.data_dir.rglob("*.log"), *secured.data_dir.rglob("*.jsonl")]
    texts += [p.read_bytes() for p in files]
    assert all(r.returncode == 0 for r in said), [r.stderr[-500:] for r in said]
    leaked = {name for name, secret in SECRETS.items() for text in texts if secret.encode() in text}
    assert not leaked and any(p.name == "worker.log" for p in files)


def test_every_cli_filter_binds_its_value(secured: Settings) -> None:
    out = secured.data_dir
    runs: list[list[str]] = [["query", "funnel", "--format", "json"]]
    for name, query in QUERIES.items():
        by = ["--by", "device_type"] if "by" in query.filters else []  # *_by_dimension queries need their dimension
        for option in ("channel", "segment", "touchpoint", "where"):
            if option in query.filters:
                given = (f"device_type={v}" if option == "where" else v for v in (INJECTION, NOTHING))
                runs += [["query", name, f"--{option}", value, *by, "--format", "json"] for value in given]
    runs.append(["query", "funnel", "--segment", DROP, "--format", "json"])
    runs += [["map", "--segment", value, "--out", str(out / f"{tag}.html")] for tag, value in (("i", INJECTION), ("n", NOTHING))]
    runs.append(["query", "funnel", "--format", "json"])
    results = run_cli(secured.model_copy(update={"log_level": "WARNING"}), runs)
    assert all(code == 0 for code, _ in results), [r for r in results if r[0]][:2]
    for (args, (_, injected)), (_, (_, nothing)) in zip(list(zip(runs, results, strict=True))[1:-4:2],
                                                        list(zip(runs, results, strict=True))[2:-4:2], strict=True):
        assert injected == nothing, args  # an injection finds what any unknown value finds: nothing
    maps = [text.replace(str(out / f"{tag}.html"), "") for tag, (_, text) in zip("in", results[-3:-1], strict=True)]
    assert maps[0] == maps[1] and "0 customers" in maps[0]
    first, last = results[0][1], results[-1][1]
    assert first == last and any(row["journeys"] > 0 for row in orjson.loads(first))  # tables intact


def run_cli(settings: Settings, runs: list[list[str]]) -> list[tuple[int, str]]:
    result = subprocess.run([sys.executable, "-m", "tests.reliability.cli_runs"], input=orjson.dumps(runs),
                            env=h.child_env(settings), cwd=Path(__file__).parents[2], capture_output=True,
                            timeout=h.COMMAND_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return [(code, out) for code, out in orjson.loads(result.stdout)]


def test_the_dashboards_user_is_read_only(settings: Settings, tmp_path: Path) -> None:
    root = ET.parse(USERS_XML).getroot()
    profile = root.findtext("users/grafana_ro/profile")
    assert profile and root.findtext(f"profiles/{profile}/readonly") in ("1", "2")
    assert root.find("users/grafana_ro/allow_databases") is not None
    probe = subprocess.run([sys.executable, "-m", "tests.reliability.readonly_probe"],
                           env=h.child_env(h.pipeline_settings(settings, tmp_path)), cwd=Path(__file__).parents[2],
                           capture_output=True, timeout=h.COMMAND_TIMEOUT_S, check=False)
    assert probe.returncode == 0, probe.stderr.decode()[-2000:]
    answers = orjson.loads(probe.stdout)
    assert answers.pop("SELECT count() FROM journeys") == "0"  # reading is allowed
    assert answers and all("readonly" in error for error in answers.values()), answers


def sasl_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"kafka": KafkaSettings(
        bootstrap_servers="kafka-1.example:9093", security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
        sasl_username="journeys", sasl_password=SecretStr(SECRETS["sasl"]), ssl_cafile=Path(certifi.where()))})


def test_sasl_and_tls_settings_reach_every_client(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    secure = sasl_settings(settings)
    expected = {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": "journeys", "sasl_plain_password": SECRETS["sasl"]}
    for options in (journeys_kafka.producer_options(secure), journeys_kafka.consumer_options(secure, "g"),
                    journeys_kafka.common_options(secure)):  # producers, consumers, admin (ensure_topics)
        assert options.items() >= (expected | {"ssl_cafile": certifi.where()}).items()
    assert "common_options(settings)" in inspect.getsource(journeys_kafka.ensure_topics)
    bulk = aiokafka_options(secure)
    assert bulk.items() >= expected.items() and isinstance(bulk["ssl_context"], ssl.SSLContext)
    monkeypatch.setattr(foundation.erasure_list, "load", lambda s: (ErasureList(b""), 0))  # no broker at example:9093
    for app in (create_app(secure), sink_app(secure)[0]):
        credentials = app.conf.broker_credentials
        assert (credentials.username, credentials.password, credentials.mechanism.value) == (
            "journeys", SECRETS["sasl"], "SCRAM-SHA-512")
        assert isinstance(credentials.ssl_context, ssl.SSLContext)
