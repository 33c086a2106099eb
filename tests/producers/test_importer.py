"""The file importer against the real broker: its summary equals what a consumer reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from foundation.kafka import ensure_topics, topic
from foundation.settings import Settings
from journeys.cli import main
from producers.importer import import_file
from producers.mapping import load_mapping
from producers.publisher import Publisher
from schemas.channels import event_adapter
from schemas.journeymap import load_journey_map
from schemas.outputs import DEADLETTER_TOPIC, DeadLetter, raw_topic
from schemas.pii import hash_email
from tests.producers.readback import read_topic
from tests.reliability.test_channel_by_map import chat_map

MAPPINGS = Path(__file__).parents[2] / "producers" / "mappings"
SAMPLES = [  # channel, mapping, sample, (read, published, rejected)
    ("call_centre", "call_centre_cdr.yaml", "cdr.csv", (10, 6, 4)),
    ("email", "email_webhook.yaml", "email_webhook.jsonl", (10, 7, 3)),
    ("store", "store_pos.yaml", "store_pos.csv", (7, 5, 2)),
]


@pytest.mark.parametrize(("channel", "mapping", "sample", "expected"), SAMPLES)
def test_the_summary_equals_what_a_consumer_reads(topics: Settings, tmp_path: Path, channel: str,
                                                  mapping: str, sample: str, expected: tuple[int, int, int]) -> None:
    path, rejects = MAPPINGS / "samples" / sample, tmp_path / "rejects.jsonl"
    with Publisher.connect(topics, source="importer") as pub:
        summary = import_file(pub, path, load_mapping(MAPPINGS / mapping), channel, rejects)
    assert (summary.read, summary.published, summary.rejected) == expected
    events = [event_adapter().validate_json(r.value)
              for r in read_topic(topics, topic(topics, raw_topic(channel)), summary.published)]
    letters = [DeadLetter.model_validate_json(r.value)
               for r in read_topic(topics, topic(topics, DEADLETTER_TOPIC), summary.rejected)]
    assert len(events) == summary.published and len(letters) == summary.rejected
    assert sorted(d.kind for d in letters) == sorted(summary.rejected_by_reason.elements())
    assert all(d.source.startswith(f"importer:{sample}:") and d.channel == channel for d in letters)
    kept = [DeadLetter.model_validate_json(line) for line in rejects.read_text().splitlines()]
    assert sorted(d.source for d in kept) == sorted(d.source for d in letters)
    assert all(e.channel == channel and e.source_id for e in events)
    assert "@" not in "".join(e.model_dump_json() for e in events)  # raw addresses never published


def test_rows_read_back_with_their_mapped_values(topics: Settings, tmp_path: Path) -> None:
    with Publisher.connect(topics) as pub:
        import_file(pub, MAPPINGS / "samples" / "store_pos.csv", load_mapping(MAPPINGS / "store_pos.yaml"),
                    "store", tmp_path / "r.jsonl")
    events = {e.source_id: e for e in (event_adapter().validate_json(r.value) for r in
                                       read_topic(topics, topic(topics, raw_topic("store")), 5))}
    sale = events["R-77001"]
    assert sale.event_time.isoformat() == "2026-03-04T10:12:00+01:00"
    assert (sale.event_type, sale.touchpoint, sale.measures.purchase_amount) == ("purchase", "store.checkout", 59.9)
    secret = topics.pii_secret.get_secret_value().encode()
    assert sale.identifiers.email_hash == hash_email("ada.lovelace@example.com", secret)
    assert events["R-77004"].event_type == "return" and events["R-77004"].measures.is_return is True


def test_the_import_command_prints_the_summary_and_the_rejects_file(topics: Settings, tmp_path: Path) -> None:
    env = {"JOURNEYS_KAFKA__BOOTSTRAP_SERVERS": topics.kafka.bootstrap_servers,
           "JOURNEYS_KAFKA__TOPIC_PREFIX": topics.kafka.topic_prefix, "JOURNEYS_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["import", "--channel", "call_centre", "--mapping",
                                       str(MAPPINGS / "call_centre_cdr.yaml"), str(MAPPINGS / "samples" / "cdr.csv")],
                                env=env)
    assert result.exit_code == 0, result.output
    assert "read 10, published 6, rejected 4" in result.output
    rejects = next((tmp_path / "rejects").glob("cdr-*.jsonl"))
    assert str(rejects) in result.output and len(rejects.read_text().splitlines()) == 4
    assert len(read_topic(topics, topic(topics, raw_topic("call_centre")), 6)) == 6


def test_a_mapping_for_another_channel_is_refused(topics: Settings) -> None:
    env = {"JOURNEYS_KAFKA__BOOTSTRAP_SERVERS": topics.kafka.bootstrap_servers}
    result = CliRunner().invoke(main, ["import", "--channel", "store", "--mapping",
                                       str(MAPPINGS / "call_centre_cdr.yaml"), str(MAPPINGS / "samples" / "cdr.csv")],
                                env=env)
    assert result.exit_code == 2 and "not 'store'" in result.output


def test_a_file_of_garbage_lines_is_all_rejected_not_fatal(topics: Settings, tmp_path: Path) -> None:
    path = tmp_path / "junk.jsonl"
    path.write_bytes(b'[1, 2]\n\n{"timestamp": "yesterday"}\nnot json\n\xff\xfe\n')
    with Publisher.connect(topics) as pub:
        summary = import_file(pub, path, load_mapping(MAPPINGS / "email_webhook.yaml"), "email", tmp_path / "r.jsonl")
    assert (summary.read, summary.published, summary.rejected) == (4, 0, 4)
    letters = read_topic(topics, topic(topics, DEADLETTER_TOPIC), 4)
    assert sorted(json.loads(r.value)["source"] for r in letters) == [
        "importer:junk.jsonl:1", "importer:junk.jsonl:3", "importer:junk.jsonl:4", "importer:junk.jsonl:5"]



def test_a_channel_declared_only_in_the_settings_map_can_be_imported(topics: Settings, tmp_path: Path) -> None:
    """`--channel chat` is checked against the map JOURNEYS_JOURNEY_MAP names, not the shipped channels."""
    local = topics.model_copy(update={"journey_map": chat_map(tmp_path)})
    (tmp_path / "chats.csv").write_text("conv,started,crm,wait\nc-1,2026-03-02T09:30:00+00:00,CRM-1,42\n"
                                        "c-2,2026-03-02T10:30:00+00:00,CRM-2,-3\n")
    (tmp_path / "chats.yaml").write_text(yaml.safe_dump({
        "channel": "chat", "time": {"column": "started", "format": "iso"}, "source_id": "conv",
        "constants": {"touchpoint": "chat.support", "event_type": "chat_started"},
        "fields": {"crm": "identifiers.crm_id", "wait": {"to": "measures.agent_wait_s", "type": "float"}}}))
    env = {"JOURNEYS_KAFKA__BOOTSTRAP_SERVERS": local.kafka.bootstrap_servers, "JOURNEYS_DATA_DIR": str(tmp_path),
           "JOURNEYS_KAFKA__TOPIC_PREFIX": local.kafka.topic_prefix, "JOURNEYS_JOURNEY_MAP": str(local.journey_map)}
    try:
        ensure_topics(local)
        load_journey_map()  # as in a fresh process: only the shipped channels registered until a map loads
        result = CliRunner().invoke(main, ["import", "--channel", "chat", "--mapping", str(tmp_path / "chats.yaml"),
                                           str(tmp_path / "chats.csv")], env=env)
        assert result.exit_code == 0, result.output
        assert "read 2, published 1, rejected 1" in result.output
        (record,) = read_topic(local, topic(local, raw_topic("chat")), 1)
        assert json.loads(record.value)["measures"]["agent_wait_s"] == 42.0
    finally:
        load_journey_map()  # back to the shipped channels in this process
