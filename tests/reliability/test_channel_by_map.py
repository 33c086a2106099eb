"""A new channel declared only in a map file, end to end through the real pipeline.

The map in tmp declares a chat channel (its event types, a measure with a unit and a range), a
context dimension, a touchpoint and a friction rule on the measure; no Python is written. Events published on `touchpoints.chat`
are validated by the worker (a bad one is a dead letter naming the field), stitched into
journeys with their friction, written to the warehouse by the sink, and the chat touchpoint is a row of the
experience map drawn from it, also per value of the dimension, and the funnel breaks down by it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner
from kafka import KafkaProducer

from foundation.kafka import common_options, topic
from foundation.settings import Settings
from journeys.embedded import child_env
from schemas.journeymap import DEFAULT_MAP_PATH, load_journey_map
from schemas.outputs import raw_topic
from tests.reliability.harness import COMMAND_TIMEOUT_S, pipeline_settings, prepare, run_until_idle

CHAT = {"name": "chat", "description": "Conversations on the support chat platform.",
        "event_types": ["chat_started", {"name": "chat_ended", "description": "The conversation closed."}],
        "measures": [{"name": "agent_wait_s", "type": "seconds", "range": [0, 3600],
                      "description": "Seconds before an agent joined."},
                     {"name": "bot_handled", "type": "boolean"}]}
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)


def chat_map(directory: Path) -> Path:
    raw = yaml.safe_load(DEFAULT_MAP_PATH.read_text())
    raw["channels"].append(CHAT)
    raw["touchpoints"].append({"id": "chat.support", "channel": "chat", "label": "Chat: support"})
    raw["phase_rules"].insert(1, {"channel": "chat", "phase": "after_sales"})
    raw["dimensions"].append({"name": "chat_topic", "values": ["orders", "returns"],
                              "description": "What the conversation was about."})
    raw["friction_rules"].append({"id": "chat_slow_agent", "kind": "threshold", "when": {"channel": "chat"},
                                  "measure": "agent_wait_s", "above": 30,
                                  "severity": {"default": "medium", "bands": [{"above": 300, "severity": "high"}]}})
    path = directory / "chat_map.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def chat_settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    local = pipeline_settings(settings, tmp_path).model_copy(update={"journey_map": chat_map(tmp_path)})
    try:
        yield local
    finally:
        load_journey_map()  # this process registered chat while creating topics: back to the shipped channels


def chat_event(source_id: str, crm_id: str, event_type: str, minutes: int, **measures: Any) -> dict[str, Any]:
    return {"source_id": source_id, "event_time": (T0 + timedelta(minutes=minutes)).isoformat(), "channel": "chat",
            "touchpoint": "chat.support", "event_type": event_type, "identifiers": {"crm_id": crm_id},
            "context": {"chat_topic": "returns"}, "measures": measures}


GOOD = [chat_event("conv-1-start", "CRM-1", "chat_started", 0, agent_wait_s=45.5, bot_handled=False),
        chat_event("conv-1-end", "CRM-1", "chat_ended", 9),
        chat_event("conv-2-start", "CRM-2", "chat_started", 30, agent_wait_s=5, bot_handled=True)]
BAD = [chat_event("conv-3-start", "CRM-3", "chat_started", 40, agent_wait_s=7200),
       {**chat_event("conv-4-start", "CRM-4", "chat_started", 50), "context": {"chat_topic": "weather"}}]


def publish_raw(settings: Settings, events: list[dict[str, Any]]) -> None:
    """As another stack would: JSON on the channel's topic, keyed by the identifier."""
    producer = KafkaProducer(**common_options(settings))
    try:
        for event in events:
            producer.send(topic(settings, raw_topic("chat")), key=f"crm_id:{event['identifiers']['crm_id']}".encode(),
                          value=orjson.dumps(event))
        producer.flush()
    finally:
        producer.close()


def read_back() -> None:
    """In a child process (chDB opens its path in one process): the warehouse rows and the experience map."""
    from clickhouse.client import connect
    from foundation.settings import load_settings
    from grafana.experience_map.service import MapRequest, draw_from
    from journeys.cli import main
    from schemas.journeymap import load_journey_map

    settings = load_settings()
    client = connect(settings)
    try:
        def rows(sql: str) -> list[list[Any]]:
            return [list(r) for r in client.query(sql).result_rows]

        out: dict[str, Any] = {
            "touchpoints": rows("SELECT event_time, event_type, measures_json, context['chat_topic'] "
                                "FROM touchpoints FINAL WHERE channel = 'chat' ORDER BY event_time"),
            "steps": rows("SELECT customer_id, phase, touchpoint FROM journey_steps FINAL WHERE channel = 'chat'"),
            "journeys": rows("SELECT customer_id, furthest_phase FROM journeys FINAL WHERE NOT retracted"),
            "dead_letters": rows("SELECT channel, reason FROM dead_letters FINAL ORDER BY reason"),
            "frictions": rows("SELECT rule, severity, touchpoint FROM friction FINAL WHERE rule LIKE 'chat%'")}
        journey_map = load_journey_map(settings.journey_map)
        experience_map, _ = draw_from(client, journey_map, MapRequest())
        out["map_rows"] = [list(t) for t in experience_map.touchpoints]
        out["map_cells"] = [[p, t, c.volume, c.customers] for (p, t), c in experience_map.cells.items()
                            if t == "chat.support"]
        for value in ("returns", "orders"):  # the map per value of the dimension declared only in YAML
            by_value, _ = draw_from(client, journey_map, MapRequest(where=("chat_topic", value)))
            out[f"map_{value}"] = sorted(t for _, t in by_value.cells)
    finally:
        client.close()
    funnel = CliRunner().invoke(main, ["query", "funnel", "--by", "chat_topic", "--format", "csv"])
    out["funnel_by_topic"] = [funnel.exit_code, funnel.output]
    sys.stdout.write(json.dumps(out, default=str))


def warehouse_and_map(settings: Settings) -> dict[str, Any]:
    code = "from tests.reliability.test_channel_by_map import read_back; read_back()"
    result = subprocess.run([sys.executable, "-c", code], env=child_env(settings), cwd=Path(__file__).parents[2],
                            capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_a_channel_declared_only_in_the_map_reaches_journeys_the_warehouse_and_the_experience_map(
        chat_settings: Settings) -> None:
    prepare(chat_settings)  # topics from the map (touchpoints.chat among them) and the warehouse tables
    publish_raw(chat_settings, [*GOOD, *BAD])
    run_until_idle(chat_settings)
    seen = warehouse_and_map(chat_settings)

    assert [(r[1], json.loads(r[2]), r[3]) for r in seen["touchpoints"]] == [
        ("chat_started", {"agent_wait_s": 45.5, "bot_handled": False}, "returns"),
        ("chat_ended", {}, "returns"),
        ("chat_started", {"agent_wait_s": 5.0, "bot_handled": True}, "returns")]
    assert sorted(tuple(s[1:]) for s in seen["steps"]) == [("after_sales", "chat.support")] * 3
    assert len({s[0] for s in seen["steps"]}) == 2
    assert sorted(j[1] for j in seen["journeys"]) == ["after_sales", "after_sales"]
    assert seen["frictions"] == [["chat_slow_agent", "medium", "chat.support"]]  # 45.5 s; 5 s is no friction
    assert [r[1].split(";")[0] for r in seen["dead_letters"]] == [
        "context.chat_topic: 'weather' is not an allowed value (allowed: orders, returns)",
        "measures.agent_wait_s: Input should be less than or equal to 3600"]
    assert ["chat.support", "chat", "Chat: support"] in seen["map_rows"]
    assert seen["map_cells"] == [["after_sales", "chat.support", 3, 2]]
    assert (seen["map_returns"], seen["map_orders"]) == (["chat.support"], [])
    code, funnel = seen["funnel_by_topic"]
    assert code == 0 and any(line.startswith("returns,after_sales,2,") for line in funnel.splitlines()), funnel
