"""A channel registered from Python (a plugin) plus the journey-map file: a chat channel, end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from pydantic import Field

from schemas.channels import channels, register_channel, unregister_channel
from schemas.events import Measures, Seconds
from schemas.export import channel_schemas
from schemas.journeymap import DEFAULT_MAP_PATH, load_journey_map
from schemas.validation import Rejection, validate


class ChatMeasures(Measures):
    """What a chat platform reports for a conversation."""

    wait_s: Seconds | None = Field(None, description="Seconds before an agent joined.")
    bot_handled: bool | None = None


@pytest.fixture
def chat() -> Iterator[None]:
    register_channel("chat", ("chat_started", "chat_ended"), ChatMeasures)
    yield
    unregister_channel("chat")


def chat_map(tmp_path: Path) -> Path:
    raw = yaml.safe_load(DEFAULT_MAP_PATH.read_text())
    raw["touchpoints"].append({"id": "chat.support", "channel": "chat", "label": "Chat: support"})
    raw["phase_rules"].append({"channel": "chat", "phase": "after_sales"})
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.usefixtures("chat")
def test_a_fifth_channel_validates_maps_and_exports(tmp_path: Path) -> None:
    journey_map = load_journey_map(chat_map(tmp_path))
    event = {"source_id": "conv-9", "event_time": datetime.now(UTC).isoformat(), "channel": "chat",
             "touchpoint": "chat.support", "event_type": "chat_started",
             "identifiers": {"crm_id": "CRM-7"}, "measures": {"wait_s": 30, "bot_handled": False}}
    result = validate(json.dumps(event), "chat-gateway", journey_map)
    assert not isinstance(result, Rejection), result
    assert result.measures.wait_s == 30  # type: ignore[attr-defined]
    assert journey_map.phase_for("chat", "chat_started", "chat.support", {}) == "after_sales"
    assert "chat.schema.json" in channel_schemas()
    bad = validate(json.dumps({**event, "measures": {"wait_s": -1}}), "chat-gateway", journey_map)
    assert isinstance(bad, Rejection) and bad.problems[0].path == "measures.wait_s"


def test_without_registration_chat_is_an_unknown_channel() -> None:
    assert "chat" not in channels()
    event = {"event_time": datetime.now(UTC).isoformat(), "channel": "chat", "touchpoint": "chat.support",
             "event_type": "chat_started", "identifiers": {"crm_id": "CRM-7"}}
    result = validate(json.dumps(event), "s")
    assert isinstance(result, Rejection) and "unknown channel 'chat'" in result.reason
