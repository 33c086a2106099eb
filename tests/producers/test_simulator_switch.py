"""Incidents switched on while a simulation publishes (`journeys switch-on`), on the wire records.

A clean simulation's records pass through the switch; nothing changes until a scenario appears in
the switch file. From then on, each checkout step 2 of a mobile customer in the window is
followed by a declined payment and the step again: valid contract events (the pipeline would
dead-letter anything else), of the same customer (key), marked as the incident's, stamped after
their step; a desktop customer's step is left alone, and so is every step before the switch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from producers.simulator.core import plan
from producers.simulator.incidents import marker
from producers.simulator.parallel import Encoded, encode
from producers.simulator.switch import Switch, switchable
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map
from schemas.validation import validate

JOURNEY_MAP = load_journey_map()
CHUNK = 50  # records per chunk, as a paced run at 500 events/s publishes them
SCENARIO = """incidents:
  - {name: mobile_pay_errors, kind: checkout_errors, start_day: 0, days: 30, where: {device_type: mobile}, share: 1}
  - {name: support_waits, kind: long_call_waits, start_day: 0, days: 30, where: {agent_team: team-support}, share: 1}
"""


def records() -> list[Encoded]:
    drawn = plan(300, 11, 20, datetime(2026, 1, 5, tzinfo=UTC), JOURNEY_MAP, b"switch-test")
    return [encode(*a)[2:] for a in drawn.arrivals]


def test_nothing_changes_until_a_scenario_is_switched_on(tmp_path: Path) -> None:
    clean = records()
    passed = [r for chunk in switchable([clean[:500], clean[500:]], Switch(tmp_path / "switch-on.yaml", JOURNEY_MAP.friction)) for r in chunk]
    assert passed == clean


def test_a_switched_on_incident_strikes_mobile_checkouts_from_then_on(tmp_path: Path) -> None:
    clean, path = records(), tmp_path / "switch-on.yaml"
    half = len(clean) // 2
    switch = Switch(path, JOURNEY_MAP.friction)
    before = [r for chunk in switchable([clean[:half]], switch) for r in chunk]
    path.write_text(SCENARIO)
    paced = [clean[n:n + CHUNK] for n in range(half, len(clean), CHUNK)]
    after = [r for chunk in switchable(paced, switch) for r in chunk]
    assert before == clean[:half] and switch.names() == ["mobile_pay_errors", "support_waits"]
    injected = [r for r in after if f'"source_id":"{marker("mobile_pay_errors")}'.encode() in r[3]]
    rewritten = [r for r in after if f'"source_id":"{marker("support_waits")}'.encode() in r[3]]
    assert injected and rewritten and len(after) == len(clean) - half + len(injected)
    for _, hashed, key, value in injected:
        event = validate(value, "test", JOURNEY_MAP)
        assert isinstance(event, TouchpointEventBase), event
        assert event.context["device_type"] == "mobile" and event.event_type in ("error", "checkout_step")
        trigger = _trigger_of(after, value)
        assert (trigger[2], trigger[1]) == (key, hashed) and event.event_time > _time(trigger[3])


def _trigger_of(records: list[Encoded], injected: bytes) -> Encoded:
    """The record the injected one follows: the last original record before it."""
    at = next(n for n, r in enumerate(records) if r[3] == injected)
    return next(r for r in reversed(records[:at]) if b'"source_id":"ix' not in r[3])


def _time(value: bytes) -> datetime:
    return datetime.fromisoformat(str(orjson.loads(value)["event_time"]).replace("Z", "+00:00"))


def test_a_chunk_of_malformed_payloads_only_waits_for_a_real_record_to_date_the_switch(tmp_path: Path) -> None:
    clean, path = records(), tmp_path / "switch-on.yaml"
    path.write_text(SCENARIO)
    malformed: list[Encoded] = [("web", 0, None, b"{not json")]
    switch = Switch(path, JOURNEY_MAP.friction)
    assert list(switchable([malformed], switch)) == [malformed] and switch.names() == []
    list(switchable([clean[:CHUNK]], switch))
    assert switch.names() == ["mobile_pay_errors", "support_waits"]


def test_switched_on_long_waits_lengthen_the_support_teams_answered_calls_from_then_on(tmp_path: Path) -> None:
    clean, path = records(), tmp_path / "switch-on.yaml"
    half, limit = len(clean) // 2, JOURNEY_MAP.friction.call_wait_s
    switch = Switch(path, JOURNEY_MAP.friction)
    assert [r for chunk in switchable([clean[:half]], switch) for r in chunk] == clean[:half]
    path.write_text(SCENARIO.splitlines()[0] + "\n" + SCENARIO.splitlines()[2] + "\n")  # the waits only
    after = [r for chunk in switchable([clean[n:n + CHUNK] for n in range(half, len(clean), CHUNK)], switch) for r in chunk]
    assert switch.names() == ["support_waits"] and len(after) == len(clean) - half  # rewritten, none added
    answered = [(orjson.loads(o[3]), orjson.loads(a[3])) for o, a in zip(clean[half:], after, strict=True)
                if b'"call_answered"' in o[3]]
    support = [(o, a) for o, a in answered if o["context"].get("agent_team") == "team-support"]
    others = [(o, a) for o, a in answered if o["context"].get("agent_team") != "team-support"]
    assert support and others
    assert all(a == o for o, a in others)  # another team's calls pass unchanged
    begin, end = switch.active[0].begin, switch.active[0].end
    struck = [(o, a) for o, a in support if begin <= _time(orjson.dumps(o)) < end and o["measures"]["wait_s"] <= limit]
    assert struck
    for planned, sent in support:
        if (planned, sent) not in struck:  # outside the incident's days, or already long: left as it was
            assert sent == planned
            continue
        event = validate(orjson.dumps(sent), "test", JOURNEY_MAP)
        assert isinstance(event, TouchpointEventBase), event
        assert limit * 1.15 <= sent["measures"]["wait_s"] <= limit * 3
        assert sent["source_id"] == marker("support_waits") + planned["source_id"]
        assert sent["event_id"] != planned["event_id"] and sent["event_time"] == planned["event_time"]

