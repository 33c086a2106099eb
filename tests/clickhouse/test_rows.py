"""The sink's pure core: records become rows, bad messages become dead letters, backoff is bounded."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import faust
from pydantic import SecretStr

from clickhouse.rows import COLUMNS, dead_letter_id, dedup_token, rows_by_table
from clickhouse.sink import BACKOFF_CAP_S, backoff_s, decode, to_arrow
from foundation.kafka import faust_credentials as broker_credentials
from foundation.settings import KafkaSettings
from schemas.outputs import STATE_TOPIC, STEPS_TOPIC, DeadLetter, JourneyStep
from tests.clickhouse import scenario as s

WHEN = datetime(2024, 3, 1, tzinfo=UTC)


def test_a_step_becomes_a_touchpoint_row_with_typed_measures_and_a_step_row() -> None:
    tables = rows_by_table([s.STEPS[4]])  # a4: the web order
    touchpoint = tables["touchpoints"][0]
    assert (touchpoint["event_id"], touchpoint["order_amount"], touchpoint.get("wait_s")) == ("a4", 100, None)
    assert touchpoint["measures_json"] == '{"order_amount":100.0}'
    assert tables["journey_steps"][0]["step_index"] == 3
    assert to_arrow("touchpoints", tables["touchpoints"]).column_names == list(COLUMNS["touchpoints"])


def test_a_step_read_from_json_keeps_its_channel_measures() -> None:
    payload = s.STEPS[8].model_dump_json(serialize_as_any=True).encode()  # b2: the store visit
    step = decode(STEPS_TOPIC, payload, "topic:t/0/8", WHEN)
    assert isinstance(step, JourneyStep)
    assert rows_by_table([step])["touchpoints"][0]["queue_wait_s"] == 700


def test_unreadable_messages_become_dead_letters_with_their_payload() -> None:
    letter = decode(STATE_TOPIC, b'{"journey_id": 1', "topic:t/2/7", WHEN)
    assert isinstance(letter, DeadLetter)
    assert (letter.source, letter.kind, letter.payload, letter.rejected_at) == (
        "topic:t/2/7", "undecodable", '{"journey_id": 1', WHEN)
    binary = decode(STEPS_TOPIC, b"\xff\xfe", "topic:t/0/1", WHEN)
    assert isinstance(binary, DeadLetter) and binary.payload_encoding == "base64"
    assert base64.b64decode(binary.payload) == b"\xff\xfe"
    again = decode(STATE_TOPIC, b'{"journey_id": 1', "topic:t/2/7", WHEN)
    assert isinstance(again, DeadLetter) and dead_letter_id(letter) == dead_letter_id(again)


def test_dedup_tokens_name_ids_and_versions() -> None:
    rows = rows_by_table(s.JOURNEYS)["journeys"]
    assert dedup_token("journeys", rows) == dedup_token("journeys", [dict(r) for r in rows])
    assert dedup_token("journeys", rows) != dedup_token("journeys", rows[:-1])
    bumped = [dict(rows[0], version=rows[0]["version"] + 1), *rows[1:]]
    assert dedup_token("journeys", rows) != dedup_token("journeys", bumped)


def test_backoff_doubles_and_is_capped() -> None:
    delays = [backoff_s(n) for n in range(1, 12)]
    assert delays[:3] == [0.2, 0.4, 0.8]
    assert max(delays) == BACKOFF_CAP_S and delays == sorted(delays)


def test_kafka_security_settings_reach_the_sink_app() -> None:
    assert broker_credentials(KafkaSettings()) is None
    sasl = broker_credentials(KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
                                            sasl_username="sink", sasl_password=SecretStr("s3cret")))
    assert isinstance(sasl, faust.SASLCredentials)
    assert (sasl.username, sasl.password, str(sasl.mechanism.value)) == ("sink", "s3cret", "SCRAM-SHA-256")
    assert isinstance(broker_credentials(KafkaSettings(security_protocol="SSL")), faust.SSLCredentials)
