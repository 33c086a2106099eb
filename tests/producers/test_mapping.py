"""The importer's pure core: a mapping turns source rows into event payloads, or problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.mapping import FieldMap, Mapping, load_mapping, map_row
from schemas.errors import ConfigError
from schemas.pii import hash_email, hash_phone
from schemas.validation import Problem

SECRET = b"test-secret"
MAPPINGS = Path(__file__).parents[2] / "producers" / "mappings"


def cdr_mapping() -> Mapping:
    return Mapping.model_validate({
        "time": {"column": "start", "format": "%d/%m/%Y %H:%M", "timezone": "Europe/London"},
        "source_id": "id",
        "constants": {"touchpoint": "call_centre.support", "measures.queue": "L1"},
        "fields": {"phone": "identifiers.phone", "wait": {"to": "measures.wait_s", "type": "float"},
                   "fcr": {"to": "measures.resolved", "type": "bool"},
                   "xfer": {"to": "measures.transfers", "type": "int"},
                   "disp": {"to": "event_type", "values": {"ANS": "call_answered"}}},
    })


def test_a_row_becomes_an_event_payload_with_hashed_phone_and_local_time() -> None:
    row = {"id": "c-9", "start": "01/07/2026 09:15", "phone": "07700 900123", "wait": "1,200.5",
           "fcr": "N", "xfer": "2", "disp": "ANS"}
    assert map_row(row, cdr_mapping(), "call_centre", SECRET) == {
        "channel": "call_centre", "touchpoint": "call_centre.support", "event_type": "call_answered",
        "source_id": "c-9", "event_time": "2026-07-01T09:15:00+01:00",
        "identifiers": {"phone_hash": hash_phone("+447700900123", SECRET)},
        "measures": {"queue": "L1", "wait_s": 1200.5, "resolved": False, "transfers": 2},
    }


def test_empty_cells_are_left_out_and_unmappable_cells_are_problems() -> None:
    row = {"start": "31/02/2026 09:15", "phone": "n/a", "wait": "", "fcr": "perhaps", "xfer": "1.5",
           "disp": "VOICEMAIL"}
    problems = map_row(row, cdr_mapping(), "call_centre", SECRET)
    assert isinstance(problems, list) and all(isinstance(p, Problem) for p in problems)
    assert sorted(p.path for p in problems) == ["disp", "fcr", "identifiers.phone", "start", "xfer"]
    assert "07700" not in " ".join(map(str, problems))  # a raw value is masked, not echoed


def test_a_missing_event_time_is_a_problem() -> None:
    assert map_row({"disp": "ANS", "phone": "07700 900123"}, cdr_mapping(), "call_centre", SECRET) == [
        Problem("start", "the event time is missing")]


def test_json_rows_reach_into_nested_objects_and_epoch_times() -> None:
    mapping = Mapping.model_validate({"time": {"column": "ts", "format": "epoch_ms"},
                                      "fields": {"who.email": "identifiers.email", "meta.c": "measures.campaign"}})
    row = {"ts": 1772442000123, "who": {"email": " Ada@Example.com"}, "meta": {"c": "spring"}}
    document = map_row(row, mapping, "email", SECRET)
    assert document == {"channel": "email", "event_time": "2026-03-02T09:00:00.123000+00:00",
                        "identifiers": {"email_hash": hash_email("ada@example.com", SECRET)},
                        "measures": {"campaign": "spring"}}


def test_the_shipped_mappings_load() -> None:
    loaded = {path.stem: load_mapping(path) for path in MAPPINGS.glob("*.yaml")}
    assert {name: m.channel for name, m in loaded.items()} == {
        "call_centre_cdr": "call_centre", "email_webhook": "email", "store_pos": "store",
        "webshop_clickstream": "web"}


def test_a_mapping_file_with_an_unknown_time_zone_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("time: {column: t, timezone: Mars/Olympus}\nfields: {a: measures.x}\n")
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert caught.value.field == "time.timezone" and "Mars/Olympus" in caught.value.reason


def test_the_value_map_wins_over_the_type() -> None:
    from producers.mapping import convert

    assert convert(" yes ", FieldMap(to="measures.is_return", type="bool", values={"yes": True})) is True
    with pytest.raises(ValueError, match="not one of"):
        convert("maybe", FieldMap(to="measures.is_return", values={"yes": True}))
