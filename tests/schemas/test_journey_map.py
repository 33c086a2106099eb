"""The journey map: the default ships valid; a bad file fails naming the file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from schemas.errors import ConfigError
from schemas.journeymap import CURRENT, DEFAULT_MAP_PATH, load_journey_map

MAP = load_journey_map()


def test_the_default_map_declares_the_four_phases_in_order() -> None:
    assert MAP.phase_ids == ("research", "compare", "purchase", "after_sales")
    assert {t.channel for t in MAP.touchpoints} == {"web", "call_centre", "email", "store"}


@pytest.mark.parametrize(("channel", "event_type", "touchpoint", "measures", "phase"), [
    ("web", "page_view", "web.content", {}, "research"),
    ("web", "compare", "web.product", {}, "compare"),
    ("web", "order_placed", "web.checkout", {}, "purchase"),
    ("web", "login", "web.account", {}, CURRENT),
    ("store", "purchase", "store.checkout", {}, "purchase"),
    ("store", "return", "store.checkout", {}, "after_sales"),
    ("call_centre", "call_answered", "call_centre.support", {}, "after_sales"),
    ("email", "feedback", "email.service", {}, CURRENT),
    ("email", "delivered", "email.service", {}, CURRENT),
])
def test_phase_rules(channel: str, event_type: str, touchpoint: str, measures: dict[str, object], phase: str) -> None:
    assert MAP.phase_for(channel, event_type, touchpoint, measures) == phase


def test_evidence_rules_name_the_identifier_pairs() -> None:
    (login,) = MAP.evidence_for("web", "login")
    assert login.links == (("anonymous_id", "email_hash"),)
    assert MAP.evidence_for("web", "page_view") == ()


def _write(tmp_path: Path, change: dict[str, object]) -> Path:
    raw = yaml.safe_load(DEFAULT_MAP_PATH.read_text())
    raw.update(change)
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"friction": {"call_wait_s": -5}}, "friction.call_wait_s", "greater than 0"),
    ({"friction": {"csat_max": 9}}, "friction.csat_max", "less than or equal to 5"),
    ({"journey": {"inactivity_gap_days": "soon"}}, "journey.inactivity_gap_days", "valid number"),
    ({"touchpoints": [{"id": "fax.main", "channel": "fax", "label": "Fax"}]}, "touchpoints.0.channel",
     "'fax' is not registered"),
    ({"phase_rules": [{"phase": "delight"}]}, "(root)", "'delight' is not one of"),
    ({"surprise": 1}, "surprise", "Extra inputs"),
])
def test_an_invalid_map_names_file_field_and_reason(tmp_path: Path, change: dict[str, object],
                                                     field: str, reason: str) -> None:
    path = _write(tmp_path, change)
    with pytest.raises(ConfigError) as caught:
        load_journey_map(path)
    assert caught.value.source == str(path)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_unreadable_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_journey_map(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("phases: [unclosed")
    with pytest.raises(ConfigError, match=r"\(syntax\)"):
        load_journey_map(broken)
