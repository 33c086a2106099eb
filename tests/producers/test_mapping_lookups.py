"""Mappings for exports where one value decides several fields: lookup tables and multi-field columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.mapping import Mapping, load_mapping, map_row
from schemas.errors import ConfigError

SECRET = b"test-secret"
TIME = {"column": "ts", "format": "iso"}
EVENT_NAMES = {
    "column": "event_name",
    "values": {"view_item": {"touchpoint": "web.product", "event_type": "product_view"},
               "begin_checkout": {"touchpoint": "web.checkout", "event_type": "checkout_step",
                                  "measures.checkout_step": 2}},
}


def clickstream(**extra: object) -> Mapping:
    return Mapping.model_validate({"time": TIME, "lookups": [EVENT_NAMES],
                                   "fields": {"cookie": "identifiers.anonymous_id"}, **extra})


def row(**cells: str) -> dict[str, str]:
    return {"ts": "2026-03-02T09:30:00Z", "cookie": "ga-1", **cells}


def test_one_event_name_sets_touchpoint_event_type_and_step_at_once() -> None:
    assert map_row(row(event_name="begin_checkout"), clickstream(), "web", SECRET) == {
        "channel": "web", "touchpoint": "web.checkout", "event_type": "checkout_step",
        "measures": {"checkout_step": 2}, "identifiers": {"anonymous_id": "ga-1"},
        "event_time": "2026-03-02T09:30:00+00:00"}


def test_a_name_missing_from_the_table_is_a_problem_naming_the_column_and_the_value() -> None:
    problems = map_row(row(event_name="scroll"), clickstream(), "web", SECRET)
    assert isinstance(problems, list)
    [problem] = problems
    assert problem.path == "event_name" and "'scroll'" in problem.message and "view_item" in problem.message
    empty = map_row(row(event_name=" "), clickstream(), "web", SECRET)
    assert isinstance(empty, list) and [p.path for p in empty] == ["event_name"] and "empty" in empty[0].message


def test_a_default_takes_the_names_the_table_does_not_list() -> None:
    mapping = clickstream(lookups=[{**EVENT_NAMES, "default": {"touchpoint": "web.content",
                                                               "event_type": "page_view"}}])
    document = map_row(row(event_name="scroll"), mapping, "web", SECRET)
    assert isinstance(document, dict)
    assert (document["touchpoint"], document["event_type"]) == ("web.content", "page_view")


def test_one_column_feeds_several_fields_and_fields_override_lookups_and_constants() -> None:
    mapping = clickstream(constants={"touchpoint": "web.content", "measures.cart_value": 0.0},
                          fields={"cookie": "identifiers.anonymous_id",
                                  "revenue": {"to": ["measures.order_amount", "measures.cart_value"], "type": "float"},
                                  "page": ["measures.path", "measures.referrer"]})
    document = map_row(row(event_name="view_item", revenue="1,059.90", page="/p/1"), mapping, "web", SECRET)
    assert isinstance(document, dict)
    assert document["touchpoint"] == "web.product"  # the lookup, over the constant
    assert document["measures"] == {"cart_value": 1059.9, "order_amount": 1059.9, "path": "/p/1", "referrer": "/p/1"}


def test_numbers_in_the_table_match_the_text_of_the_cell(tmp_path: Path) -> None:
    path = tmp_path / "steps.yaml"
    path.write_text("time: {column: ts}\nlookups:\n  - column: step\n    values:\n"
                    "      1: {measures.checkout_step: 1}\n      2: {measures.checkout_step: 2}\n")
    document = map_row(row(step="2"), load_mapping(path), "web", SECRET)
    assert isinstance(document, dict) and document["measures"] == {"checkout_step": 2}


def test_rows_do_not_share_the_mapping_s_nested_values() -> None:
    """A constant or lookup value that is an object is the row's own: a field written into it
    on one row must not show up on the next."""
    mapping = clickstream(constants={"measures": {"session_id": "s-0"}},
                          fields={"cookie": "identifiers.anonymous_id", "dwell": {"to": "measures.dwell_s",
                                                                                  "type": "float"}})
    first = map_row(row(event_name="view_item", dwell="5"), mapping, "web", SECRET)
    second = map_row(row(event_name="view_item"), mapping, "web", SECRET)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["measures"] == {"session_id": "s-0", "dwell_s": 5.0}
    assert second["measures"] == {"session_id": "s-0"}


@pytest.mark.parametrize(("text", "where"), [
    ("lookups: [{column: e, values: {a: {Touch-Point: x}}}]", "lookups.0.values.a"),
    ("lookups: [{values: {a: {touchpoint: x}}}]", "lookups.0.column"),
    ("fields: {c: {to: [measures.x, 'Bad Path']}}", "fields.c.to"),
])
def test_a_bad_lookup_or_target_is_refused_with_file_and_path(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("time: {column: t}\n" + text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert caught.value.source == str(path) and caught.value.field.startswith(where), caught.value
