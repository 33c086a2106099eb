"""`journeys validate FILE`: each rejection with its line and reason, a summary, exit status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from journeys.cli import main


def line(**changes: object) -> str:
    event = {"source_id": "x1", "event_time": datetime.now(UTC).isoformat(), "channel": "store",
             "touchpoint": "store.floor", "event_type": "visit", "identifiers": {"loyalty_id": "L-1"},
             "measures": {"visit_s": 600}}
    event.update(changes)
    return json.dumps(event)


def test_reports_rejections_by_line_and_exits_non_zero(tmp_path: Path) -> None:
    sample = tmp_path / "sample.jsonl"
    sample.write_text("\n".join([line(), line(measures={"visit_s": -3}), "", "{oops", line(source_id="x2")]) + "\n")
    result = CliRunner().invoke(main, ["validate", str(sample)])
    assert result.exit_code == 1
    assert "line 2: measures.visit_s: Input should be greater than or equal to 0" in result.output
    assert "line 4: " in result.output and "Invalid JSON" in result.output
    assert "2 valid, 2 rejected" in result.output


def test_a_clean_file_exits_zero_reading_standard_input() -> None:
    result = CliRunner().invoke(main, ["validate", "-"], input=line() + "\n" + line(source_id="x2") + "\n")
    assert result.exit_code == 0, result.output
    assert "2 valid, 0 rejected" in result.output
