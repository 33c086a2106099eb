"""A bad friction rule stops start-up: the map file, the path of the bad value and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.errors import ConfigError
from schemas.journeymap import DEFAULT_MAP_PATH, load_journey_map, parse_journey_map

WEB_ERROR = {"channel": "web", "event_types": ["error"]}
CHAT = {"channel": "web", "event_types": ["chat_started"]}


def _with_rule(tmp_path: Path, rule: dict[str, Any]) -> tuple[Path, str]:
    """The shipped map plus one rule; returns the file and the rule's path in it."""
    raw = yaml.safe_load(DEFAULT_MAP_PATH.read_text())
    raw["friction_rules"].append(rule)
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, f"friction_rules[{len(raw['friction_rules']) - 1}]"


@pytest.mark.parametrize(("rule", "where", "reason"), [
    ({"id": "x", "kind": "sometimes"}, "", "does not match any of the expected tags"),
    ({"id": "x", "kind": "threshold", "above": 3}, ".measure", "Field required"),
    ({"id": "x", "kind": "sequence", "first": WEB_ERROR, "then": CHAT, "within": "soon"}, ".within",
     "'soon' is not a duration"),
    ({"id": "x", "kind": "gap", "longer_than": "friction.transfers"}, ".longer_than", "is not a duration"),
    ({"id": "x", "kind": "occurrence", "when": {"channel": "web", "event_types": ["teleport"]}},
     ".when[0].event_types", "'teleport' is not an event type of web"),
    ({"id": "x", "kind": "occurrence", "when": {"channel": "fax"}}, ".when[0].channel", "'fax' is not registered"),
    ({"id": "x", "kind": "occurrence", "when": {"channel": "web", "touchpoints": ["store.floor"]}},
     ".when[0].touchpoints", "'store.floor' is not a touchpoint of web"),
    ({"id": "x", "kind": "threshold", "when": {"channel": "web"}, "measure": "wait_s", "above": 1}, ".measure",
     "'wait_s' is not a measure of the events this rule reads"),
    ({"id": "x", "kind": "threshold", "when": {"channel": "call_centre"}, "measure": "queue", "above": 1},
     ".measure", "'queue' is not a number"),
    ({"id": "x", "kind": "threshold", "measure": "wait_s", "above": "friction.patience_s"}, ".above",
     "friction.patience_s is not a threshold"),
    ({"id": "x", "kind": "threshold", "measure": "wait_s", "above": 1, "below": 9}, "", "exactly one of above"),
    ({"id": "x", "kind": "sequence", "after_rule": "chat_after_error", "then": CHAT, "within": "1h"},
     ".after_rule", "'chat_after_error' is not a rule declared before this one"),
    ({"id": "long_wait", "kind": "occurrence", "when": WEB_ERROR}, ".id", "'long_wait' is declared twice"),
    ({"id": "x", "kind": "occurrence", "when": WEB_ERROR, "severity": "severe"}, ".severity",
     "Input should be 'low', 'medium' or 'high'"),
    ({"id": "x", "kind": "sequence", "first": WEB_ERROR, "then": CHAT, "within": "1h",
      "severity": {"default": "low", "bands": [{"above": 10, "severity": "high"}]}}, ".severity.bands[0].above",
     "write a duration"),
    ({"id": "x", "kind": "occurrence", "when": WEB_ERROR, "touchpoint": "web.nowhere"}, ".touchpoint",
     "'web.nowhere' is not 'event', 'about' nor a touchpoint"),
    ({"id": "x", "kind": "gap", "longer_than": "3d", "until_phase": "delight"}, ".until_phase",
     "'delight' is not one of the map's phases"),
    ({"id": "x", "kind": "repetition", "when": WEB_ERROR, "times": 3, "within": "10m", "same": ["mood"]},
     ".same[0]", "'mood' is not a measure"),
])
def test_a_bad_rule_is_refused_with_file_path_and_reason(tmp_path: Path, rule: dict[str, Any], where: str,
                                                         reason: str) -> None:
    path, at = _with_rule(tmp_path, rule)
    with pytest.raises(ConfigError) as caught:
        load_journey_map(path)
    assert (caught.value.source, caught.value.field) == (str(path), at + where), caught.value
    assert reason in caught.value.reason, caught.value


def test_the_shipped_example_rules_are_valid(tmp_path: Path) -> None:
    """The map ships its example rules commented out: uncommented, they load."""
    text = DEFAULT_MAP_PATH.read_text()
    start = text.index("  # - {id: web_error")
    end = text.index("\n\n", start)
    examples = "\n".join(line.replace("  # ", "  ", 1) for line in text[start:end].splitlines())
    path = tmp_path / "map.yaml"
    path.write_text(text[:start] + examples + text[end:])
    ids = [r.id for r in load_journey_map(path).friction_rules]
    assert ids[11:] == ["web_error", "checkout_loop", "payment_retries", "chat_after_error"]


def test_the_examples_in_the_docs_are_valid_rules() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "journeys.md").read_text()
    block = docs.split("One example of each", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    raw = yaml.safe_load(DEFAULT_MAP_PATH.read_text())
    raw["friction_rules"] = yaml.safe_load(block)["friction_rules"]
    assert [r.kind for r in parse_journey_map(raw).friction_rules] == [
        "threshold", "occurrence", "absence", "sequence", "loop", "repetition", "gap"]


def test_a_rule_may_read_feedback_as_phase_rules_do(tmp_path: Path) -> None:
    path, _ = _with_rule(tmp_path, {"id": "sad_web_feedback", "kind": "occurrence",
                                    "when": {"channel": "web", "event_types": ["feedback"]}})
    assert "sad_web_feedback" in {rule.id for rule in load_journey_map(path).friction_rules}


def test_a_map_without_rules_that_drops_a_channel_the_shipped_rules_name_says_where_they_came_from(
        tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_MAP_PATH.read_text())
    del raw["friction_rules"]
    raw["channels"] = [c for c in raw["channels"] if c["name"] != "store"]
    raw["touchpoints"] = [t for t in raw["touchpoints"] if t["channel"] != "store"]
    raw["phase_rules"] = [r for r in raw["phase_rules"] if r.get("channel") != "store"]
    raw["identity"]["rules"] = [r for r in raw["identity"]["rules"] if r.get("channel") != "store"]
    path = tmp_path / "no_store.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="inherits because it declares no friction_rules"):
        load_journey_map(path)
