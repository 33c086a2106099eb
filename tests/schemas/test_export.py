"""The committed JSON Schemas are current, accept their examples and reject invalid documents."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from journeys.cli import main
from schemas.export import channel_schemas

COMMITTED = Path(__file__).parents[2] / "schemas" / "json"


def test_committed_schemas_equal_a_fresh_export(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schemas", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    fresh = {p.name: p.read_text() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_text() for p in COMMITTED.iterdir()}
    assert fresh == committed, "schemas/json is stale: run `make schemas`"
    assert set(fresh) >= {"web.schema.json", "call_centre.schema.json", "email.schema.json",
                          "store.schema.json", "feedback.schema.json"}


@pytest.mark.parametrize("name", sorted(channel_schemas()))
def test_each_schema_accepts_its_examples(name: str) -> None:
    schema = channel_schemas()[name]
    jsonschema.Draft202012Validator.check_schema(schema)
    for example in schema["examples"]:
        jsonschema.Draft202012Validator(schema).validate(example)


@pytest.mark.parametrize(("change", "why"), [
    ({"identifiers": {}}, "no identifier"),
    ({"event_type": "teleport"}, "unknown event type"),
    ({"measures": {"wait_s": -1}}, "negative wait"),
    ({"colour": "red"}, "unknown field"),
    ({"event_time": 12}, "time is not a string"),
])
def test_the_call_centre_schema_rejects_invalid_documents(change: dict[str, object], why: str) -> None:
    schema = channel_schemas()["call_centre.schema.json"]
    document = {**schema["examples"][0], **change}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(document)


def test_feedback_schema_requires_feedback() -> None:
    schema = channel_schemas()["feedback.schema.json"]
    document = dict(schema["examples"][0])
    del document["feedback"]
    with pytest.raises(jsonschema.ValidationError, match="feedback"):
        jsonschema.Draft202012Validator(schema).validate(document)
    assert json.dumps(schema)  # serialisable as committed
