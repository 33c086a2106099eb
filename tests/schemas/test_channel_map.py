"""Channels, event types and measures live in the journey map: declared in YAML, refused when wrong.

A new channel (chat) declared only in a map file validates its events with the measures' types and
ranges and exports its JSON Schema; a bad declaration stops the load naming the file, the path and
the reason; loading the shipped map again gives back the shipped channels.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from journeys.cli import main
from schemas.channels import channels
from schemas.errors import ConfigError
from schemas.export import channel_schemas
from schemas.journeymap import DEFAULT_MAP_PATH, load_journey_map
from schemas.outputs import wire_step_model
from schemas.validation import Rejection, validate

CHAT = {"name": "chat", "description": "A chat platform's conversations.",
        "event_types": ["chat_started", {"name": "chat_ended", "description": "The conversation closed."}],
        "measures": [{"name": "wait_s", "type": "seconds", "description": "Seconds before an agent joined."},
                     {"name": "bot_handled", "type": "boolean"},
                     {"name": "messages", "type": "integer", "range": [0, 500], "unit": "messages"},
                     {"name": "topic", "type": "choice", "values": ["order", "returns", "other"]}]}


@pytest.fixture(autouse=True)
def shipped_channels_after() -> Iterator[None]:
    yield
    load_journey_map()  # registers the shipped channels again for the tests that follow


def a_map(tmp_path: Path, edit: Any = None) -> Path:
    raw = yaml.safe_load(DEFAULT_MAP_PATH.read_text())
    raw["channels"].append(json.loads(json.dumps(CHAT)))
    raw["touchpoints"].append({"id": "chat.support", "channel": "chat", "label": "Chat: support"})
    raw["phase_rules"].append({"channel": "chat", "phase": "after_sales"})
    if edit is not None:
        edit(raw)
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def chat_event(**change: Any) -> str:
    event = {"source_id": "conv-9", "event_time": datetime.now(UTC).isoformat(), "channel": "chat",
             "touchpoint": "chat.support", "event_type": "chat_started", "identifiers": {"crm_id": "CRM-7"},
             "measures": {"wait_s": 30, "bot_handled": False, "messages": 4, "topic": "returns"}}
    return json.dumps(event | change)


def test_a_channel_declared_only_in_the_map_validates_and_exports(tmp_path: Path) -> None:
    assert "chat" not in channels()
    journey_map = load_journey_map(a_map(tmp_path))
    assert list(channels()) == ["web", "call_centre", "email", "store", "chat"]
    event = validate(chat_event(), "chat-gateway", journey_map)
    assert not isinstance(event, Rejection), event
    assert event.measures.model_dump() == {"wait_s": 30, "bot_handled": False, "messages": 4, "topic": "returns"}
    schema = channel_schemas()["chat.schema.json"]
    measures = schema["$defs"]["ChatMeasures"]["properties"]
    assert measures["wait_s"]["x-unit"] == "s" and measures["messages"]["x-unit"] == "messages"
    assert schema["properties"]["event_type"]["x-event-types"] == {"chat_ended": "The conversation closed."}


@pytest.mark.parametrize(("change", "path", "message"), [
    ({"measures": {"messages": 501}}, "measures.messages", "less than or equal to 500"),
    ({"measures": {"wait_s": -1}}, "measures.wait_s", "greater than or equal to 0"),
    ({"measures": {"topic": "weather"}}, "measures.topic", "'order', 'returns' or 'other'"),
    ({"measures": {"colour": "red"}}, "measures.colour", "Extra inputs are not permitted"),
    ({"event_type": "call_answered"}, "event_type", "'chat_started', 'chat_ended' or 'feedback'"),
])
def test_a_bad_chat_event_is_refused_naming_the_field(tmp_path: Path, change: dict[str, Any], path: str,
                                                      message: str) -> None:
    journey_map = load_journey_map(a_map(tmp_path))
    rejection = validate(chat_event(**change), "chat-gateway", journey_map)
    assert isinstance(rejection, Rejection)
    assert rejection.problems[0].path == path and message in rejection.problems[0].message


def test_the_shipped_map_gives_back_the_shipped_channels(tmp_path: Path) -> None:
    load_journey_map(a_map(tmp_path))
    load_journey_map()
    assert list(channels()) == ["web", "call_centre", "email", "store"]
    assert isinstance(validate(chat_event(), "s"), Rejection)


def _chat(raw: dict[str, Any]) -> dict[str, Any]:
    chat: dict[str, Any] = raw["channels"][-1]
    return chat


@pytest.mark.parametrize(("edit", "path", "reason"), [
    (lambda raw: _chat(raw)["measures"].append({"name": "mood", "type": "feeling"}),
     "channels.4.measures.4", "unknown measure type 'feeling' (known: seconds, money"),
    (lambda raw: _chat(raw)["measures"].append({"name": "n", "type": "integer", "range": [9, 1]}),
     "channels.4.measures.4", "range: [9, 1] has its minimum above its maximum"),
    (lambda raw: _chat(raw)["measures"].append({"name": "ok", "type": "boolean", "range": [0, 1]}),
     "channels.4.measures.4", "a boolean measure has no range"),
    (lambda raw: _chat(raw)["measures"].append({"name": "n", "type": "integer", "range": [0]}),
     "channels.4.measures.4.range.1", "Field required"),
    (lambda raw: _chat(raw)["measures"].append({"name": "kind", "type": "choice"}),
     "channels.4.measures.4", "`values` (the allowed values) goes with type choice"),
    (lambda raw: _chat(raw)["measures"].append({"name": "n", "type": "integer", "range": [0, 5], "default": 9}),
     "channels.4.measures.4", "default 9 is not a valid integer"),
    (lambda raw: _chat(raw)["measures"].append({"name": "wait_s", "type": "seconds"}),
     "channels.4", "measures: wait_s declared twice"),
    (lambda raw: _chat(raw)["event_types"].append("chat_started"),
     "channels.4", "event_types: chat_started declared twice"),
    (lambda raw: raw["channels"].append(dict(CHAT)), "channels.5.name", "channel 'chat' is declared twice"),
    (lambda raw: raw["channels"].append({"name": "Chat Bot", "event_types": ["x"]}), "channels.5.name",
     "should match pattern"),
    (lambda raw: raw["channels"].append({"name": "sms"}), "channels.5.event_types", "Field required"),
    (lambda raw: raw["phase_rules"].append({"channel": "chat", "event_types": ["chat_paused"], "phase": "current"}),
     "phase_rules.18.event_types.0", "event type 'chat_paused' is not declared on channel 'chat'"),
    (lambda raw: raw["phase_rules"].insert(0, {"event_types": ["teleport"], "phase": "current"}),
     "phase_rules.0.event_types.0", "event type 'teleport' is not declared on any channel"),
    (lambda raw: raw["identity"]["rules"].append({"name": "chat_login", "channel": "sms", "event_types": ["x"],
                                                  "links": [["anonymous_id", "email_hash"]]}),
     "identity.rules.4.channel", "channel 'sms' is not registered"),
    (lambda raw: raw["touchpoints"].append({"id": "sms.main", "channel": "sms", "label": "SMS"}),
     "touchpoints.16.channel", "channel 'sms' is not registered: declare it under channels"),
])
def test_a_bad_channel_declaration_stops_the_load_with_file_path_and_reason(
        tmp_path: Path, edit: Any, path: str, reason: str) -> None:
    map_path = a_map(tmp_path, edit)
    with pytest.raises(ConfigError) as caught:
        load_journey_map(map_path)
    assert (caught.value.source, caught.value.field) == (str(map_path), path)
    assert reason in caught.value.reason, caught.value.reason
    assert "chat" not in channels()  # a refused map registers nothing


def test_a_map_without_a_channels_section_keeps_the_shipped_channels(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_MAP_PATH.read_text())
    del raw["channels"]
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_journey_map(path).channel_names == ("web", "call_centre", "email", "store")


def test_the_export_command_writes_the_schemas_of_the_settings_map(tmp_path: Path) -> None:
    env = {"JOURNEYS_JOURNEY_MAP": str(a_map(tmp_path)), "JOURNEYS_DATA_DIR": str(tmp_path)}
    load_journey_map()  # as in a fresh process
    result = CliRunner().invoke(main, ["schemas", "export", str(tmp_path / "out")], env=env)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "call_centre.schema.json", "chat.schema.json", "email.schema.json", "feedback.schema.json",
        "pii_hash.json", "store.schema.json", "web.schema.json"]


def test_a_channel_declared_again_with_other_measures_gets_a_step_reader_with_them(tmp_path: Path) -> None:
    """The sink's reader of steps follows the map's channels, not only their names."""
    load_journey_map(a_map(tmp_path))
    first = wire_step_model().model_fields["event"].annotation
    again = tmp_path / "again"
    again.mkdir()
    load_journey_map(a_map(again, lambda raw: _chat(raw)["measures"].append({"name": "rating", "type": "integer"})))
    second = wire_step_model().model_fields["event"].annotation
    assert first != second
    assert "rating" in channels()["chat"].measures.model_fields
