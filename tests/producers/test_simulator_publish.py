"""`journeys simulate` against the real local broker: valid events on the raw topics, malformed
payloads on the dead-letter topic, and the ground truth written to a file."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from foundation.kafka import topic
from foundation.settings import Settings
from journeys.cli import main
from producers.publisher import Publisher
from producers.simulator import simulate
from producers.simulator.run import TokenBucket, publish
from schemas.channels import channels, event_adapter
from schemas.journeymap import load_journey_map
from schemas.outputs import DEADLETTER_TOPIC, DeadLetter, raw_topic
from tests.producers.readback import read_topic


def test_a_simulation_lands_on_the_raw_and_dead_letter_topics(topics: Settings) -> None:
    journey_map = load_journey_map()
    sim = simulate(40, 9, 120, datetime(2026, 1, 1, tzinfo=UTC), journey_map, b"secret")
    with Publisher.connect(topics, source="simulator", journey_map=journey_map) as publisher:
        summary = publish(sim.deliveries, publisher, show_progress=False)
    expected = Counter(d.channel for d in sim.deliveries if not isinstance(d.payload, bytes))
    assert summary.published == expected
    for channel in channels():
        records = read_topic(topics, topic(topics, raw_topic(channel)), expected[channel])
        assert len(records) == expected[channel]
        ids = {event_adapter().validate_json(r.value).event_id for r in records}
        assert ids == {e.event_id for e in sim.events() if e.channel == channel}
    letters = read_topic(topics, topic(topics, DEADLETTER_TOPIC), sim.truth.totals.malformed)
    assert len(letters) == summary.dead_lettered == sim.truth.totals.malformed
    assert all(DeadLetter.model_validate_json(r.value).source == "simulator" for r in letters)


def test_the_command_publishes_paced_and_writes_the_truth(settings: Settings, tmp_path: Path) -> None:
    truth_file = tmp_path / "truth.json"
    env = {"JOURNEYS_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
           "JOURNEYS_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix, "JOURNEYS_DATA_DIR": str(tmp_path)}
    args = ["simulate", "--customers", "8", "--seed", "4", "--days", "60", "--rate", "5000",
            "--truth", str(truth_file), "--no-progress"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    truth = json.loads(truth_file.read_text())
    assert truth["totals"]["customers"] == 8
    assert f"published {truth['totals']['events'] + truth['totals']['duplicates']:,} events" in result.output
    web = [r for r in read_topic(settings, topic(settings, raw_topic("web")), 1)]
    assert {event_adapter().validate_json(r.value).event_id for r in web} <= {
        e for p in truth["persons"] for e in p["event_ids"]}


def test_the_command_publishes_as_fast_as_possible_and_writes_the_truth(settings: Settings,
                                                                       tmp_path: Path) -> None:
    truth_file = tmp_path / "truth.json"
    env = {"JOURNEYS_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
           "JOURNEYS_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix, "JOURNEYS_DATA_DIR": str(tmp_path)}
    args = ["simulate", "--customers", "30", "--seed", "6", "--days", "90", "--as-fast-as-possible",
            "--truth", str(truth_file), "--no-progress"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    truth = json.loads(truth_file.read_text())
    expected = simulate(30, 6, 90, datetime(2026, 1, 1, tzinfo=UTC), load_journey_map(),
                        Settings().pii_secret.get_secret_value().encode("utf-8"))
    assert truth == json.loads(expected.truth.model_dump_json())
    for channel in channels():
        wanted = {e.event_id for e in expected.events() if e.channel == channel}
        records = read_topic(settings, topic(settings, raw_topic(channel)), len(wanted))
        assert {event_adapter().validate_json(r.value).event_id for r in records} == wanted
    letters = read_topic(settings, topic(settings, DEADLETTER_TOPIC), expected.truth.totals.malformed)
    assert len(letters) == expected.truth.totals.malformed


def test_the_token_bucket_grants_no_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=1000.0)
    bucket.take(1000)
    assert bucket.tokens < 1.0
