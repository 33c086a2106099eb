"""The experience map drawn from a warehouse filled by the pipeline's own pieces.

Story: two months of customers, 12 in March and 12 in April, go through the pure stream core
(streams.core.pipeline) and the warehouse writer (clickhouse.sink) into chDB. Each searches,
compares on the web, visits a store and calls the sales line; a third of them are transferred
three times on that call and give up; the others buy on the web and call support the next day,
then rate the support call by e-mail. Injected pain points: in March, support calls wait 700 s
(fixed in April: 60 s) and CSAT is 3 (April: 5); "family" customers queue 900 s in the store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from clickhouse_connect.driver.client import Client

from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.sink import WarehouseWriter
from foundation.settings import ClickHouseSettings, Settings
from grafana.experience_map import browser
from grafana.experience_map.live import render_html
from grafana.experience_map.model import ExperienceMap, build_map, compare
from grafana.experience_map.page import pct
from grafana.experience_map.queries import fetch, period_label, run, window
from grafana.experience_map.service import MapRequest
from journeys.cli import main
from journeys.commands.experience_map import draw
from schemas.channels import event_adapter
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map
from streams.core.pipeline import Pipeline
from tests.grafana.test_experience_map_render import pixel_colours

MARCH, APRIL, MAY = (datetime(2026, m, 1, tzinfo=UTC) for m in (3, 4, 5))
CUSTOMERS_PER_MONTH = 12
PHASES = load_journey_map().phase_ids
SUPPORT = ("after_sales", "call_centre.support")
SALES = ("compare", "call_centre.sales")
STORE = ("compare", "store.floor")


def _event(n: int, who: str, month: datetime, minutes: float, channel: str, touchpoint: str, event_type: str,
           segment: str, feedback: dict[str, Any] | None = None, **measures: Any) -> TouchpointEventBase:
    when = month + timedelta(hours=n * 2, minutes=minutes)
    doc = {"event_id": f"{who}-{touchpoint}-{event_type}", "event_time": when, "received_time": when,
           "channel": channel, "touchpoint": touchpoint, "event_type": event_type,
           "identifiers": {"anonymous_id": who}, "segment": segment, "feedback": feedback, "measures": measures}
    result: TouchpointEventBase = event_adapter().validate_python(doc)
    return result


def customer(n: int, month: datetime) -> list[TouchpointEventBase]:
    """One customer's month: the injected pains depend on the month, the segment and n."""
    who, segment, fixed = f"{month:%b}-{n}".lower(), "family" if n % 2 == 0 else "business", month >= APRIL
    gives_up = n % 3 == 0

    def e(minutes: float, channel: str, tp: str, kind: str, **rest: Any) -> TouchpointEventBase:
        return _event(n, who, month, minutes, channel, tp, kind, segment, **rest)

    events = [e(0, "web", "web.search", "search"), e(10, "web", "web.compare", "compare"),
              e(15, "store", "store.floor", "visit", queue_wait_s=900 if segment == "family" else 60),
              e(20, "call_centre", "call_centre.sales", "call_answered", wait_s=30, transfers=3 if gives_up else 0,
                resolved=not gives_up)]
    if gives_up:
        return events
    return [*events, e(30, "web", "web.checkout", "checkout_step", checkout_step=1),
            e(35, "web", "web.checkout", "order_placed", order_id=f"o-{who}"),
            e(24 * 60, "call_centre", "call_centre.support", "call_answered", wait_s=60 if fixed else 700,
              resolved=True),
            e(25 * 60, "email", "email.support", "feedback",
              feedback={"csat": 5 if fixed else 3, "about_touchpoint": "call_centre.support"})]


def pipeline_records() -> list[Any]:
    pipeline = Pipeline(load_journey_map())
    records: list[Any] = []
    for month in (MARCH, APRIL):
        for n in range(CUSTOMERS_PER_MONTH):
            for event in customer(n, month):
                records += pipeline.feed(event)
    return records


@pytest.fixture(scope="module")
def map_settings(warehouse_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("experience-map"),
                    clickhouse=ClickHouseSettings(dsn=warehouse_dsn, database=f"map_{uuid.uuid4().hex[:8]}"))


@pytest.fixture(scope="module")
def map_warehouse(map_settings: Settings) -> Iterator[Client]:
    client = connect(map_settings)
    migrate(client)
    WarehouseWriter(client).write(pipeline_records())
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{map_settings.clickhouse.database}`")


def drawn(client: Client, start: datetime, end: datetime, segment: str | None = None) -> ExperienceMap:
    filters = window(start, end, segment)
    return build_map(fetch(client, filters, PHASES), load_journey_map(), segment, period_label(filters))


def painful(m: ExperienceMap) -> dict[tuple[str, str], str | None]:
    return {key: cell.top_rule for key, cell in m.cells.items() if cell.friction_rate > 0}


def test_march_map_shows_the_injected_pain_points_in_their_cells(map_warehouse: Client) -> None:
    march = drawn(map_warehouse, MARCH, APRIL)
    assert painful(march) == {SUPPORT: "long_wait", SALES: "transfers", STORE: "long_queue"}
    assert march.cells[SUPPORT].friction_rate == 1.0
    assert march.cells[SUPPORT].csat == 3.0
    assert march.cells[SALES].volume == CUSTOMERS_PER_MONTH
    assert march.customers == CUSTOMERS_PER_MONTH


def test_segment_maps_keep_the_store_queue_to_families(map_warehouse: Client) -> None:
    family = drawn(map_warehouse, MARCH, APRIL, "family")
    business = drawn(map_warehouse, MARCH, APRIL, "business")
    assert family.cells[STORE].friction_rate == 1.0 and family.cells[STORE].top_rule == "long_queue"
    assert business.cells[STORE].friction_rate == 0.0
    assert family.customers == business.customers == CUSTOMERS_PER_MONTH // 2


def test_transfers_on_the_sales_line_are_the_top_moment_of_truth(map_warehouse: Client) -> None:
    top = drawn(map_warehouse, MARCH, APRIL).moments[0]
    assert (top.phase, top.touchpoint) == SALES
    assert (top.conversion_with, top.conversion_without, top.lift) == (0.0, 1.0, 1.0)


def test_period_comparison_shows_the_fixed_support_line(map_warehouse: Client) -> None:
    comparison = compare(drawn(map_warehouse, APRIL, MAY), drawn(map_warehouse, MARCH, APRIL))
    support = comparison.changes[SUPPORT]
    assert (support.friction_rate, support.csat) == (-1.0, 2.0)
    # Eight calls with a friction, then none: z -2.5, too few to colour the cell at |z| >= 3.
    assert support.verdict == "same" and -3 < support.friction_z < -2
    assert comparison.changes[SALES].verdict == "same"
    assert comparison.emotion_change["after_sales"] > 0


def test_map_command_writes_html_svg_and_png(map_warehouse: Client, map_settings: Settings, tmp_path: Path) -> None:
    env = {"JOURNEYS_CLICKHOUSE__DSN": map_settings.clickhouse.dsn,
           "JOURNEYS_CLICKHOUSE__DATABASE": map_settings.clickhouse.database}
    args = ["map", "--from", "2026-04-01", "--to", "2026-05-01", "--compare-from", "2026-03-01",
            "--compare-to", "2026-04-01"]
    for name in ("map.html", "map.svg", "map.png"):
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / name)], env=env)
        assert result.exit_code == 0, result.output
    page = (tmp_path / "map.html").read_text()
    assert 'data-friction-change="-1.0"' in page and 'data-friction-z="-2.' in page
    assert (tmp_path / "map.svg").read_text().startswith("<svg")
    assert len(pixel_colours((tmp_path / "map.png").read_bytes())) > 20


CELLS_JS = """JSON.stringify({
  cells: Array.from(document.querySelectorAll('td.cell[data-volume]')).map(td => Object.assign(
      {text: Array.from(td.children).map(line => line.textContent)}, td.dataset)),
  text: document.body.innerText})"""


def test_browser_shows_the_query_numbers_offline(map_warehouse: Client, map_settings: Settings,
                                                 tmp_path: Path) -> None:
    experience_map, _ = draw(map_settings, MapRequest(start=MARCH, end=APRIL))
    page = tmp_path / "map.html"
    page.write_text(render_html(experience_map), encoding="utf-8")
    seen = browser.visit(page, CELLS_JS)
    assert seen.console_errors == []
    assert set(seen.requests) == {page.resolve().as_uri()}
    shown = json.loads(seen.values)
    assert all(p.label in shown["text"] for p in load_journey_map().phases)
    assert all(t.label in shown["text"] for t in load_journey_map().touchpoints)
    expected = run(map_warehouse, "experience_map", window(MARCH, APRIL, None), PHASES)
    assert {_shown(c) for c in shown["cells"]} == {_queried(r) for r in expected}
    for cell in shown["cells"]:
        assert cell["text"][0] == f"{int(cell['volume']):,} events · {pct(float(cell['share']))} of customers"
        assert cell["text"][1].startswith(f"friction {pct(float(cell['frictionRate']))}")
    assert len(pixel_colours(seen.screenshot_png)) > 20


def _shown(cell: dict[str, Any]) -> tuple[Any, ...]:
    return (cell["phase"], cell["touchpoint"], int(cell["volume"]), int(cell["customers"]), float(cell["share"]),
            float(cell["frictionRate"]), cell["topRule"], float(cell["csat"]) if cell["csat"] else None)


def _queried(row: dict[str, Any]) -> tuple[Any, ...]:
    csat = row["avg_csat"]
    return (row["phase"], row["touchpoint"], row["steps"], row["customers"], float(row["share_of_customers"]),
            float(row["friction_rate"]), row["top_friction_rule"], float(csat) if csat is not None else None)


def test_browser_check_sees_console_errors_and_outside_requests(tmp_path: Path) -> None:
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/pixel.png">'
                    '<script>console.error("boom")</script></body></html>', encoding="utf-8")
    seen = browser.visit(page)
    assert any("boom" in error for error in seen.console_errors)
    assert "http://127.0.0.1:9/pixel.png" in seen.requests


def test_a_map_without_a_period_shows_the_datas_own(map_warehouse: Client, map_settings: Settings) -> None:
    times = [e.event_time for month in (MARCH, APRIL) for n in range(CUSTOMERS_PER_MONTH) for e in customer(n, month)]
    first, last = min(times).date().isoformat(), max(times).date().isoformat()
    assert draw(map_settings, MapRequest())[0].period == (first, last)  # not 2000-01-01 to 2100-01-01
    assert draw(map_settings, MapRequest(start=APRIL))[0].period == ("2026-04-01", last)
    assert draw(map_settings, MapRequest(start=MAY))[0].period == ("no events from 2026-05-01", "")


SANKEY_JS = """JSON.stringify({
  links: Array.from(document.querySelectorAll('svg.sankey path.link')).map(p => Object.assign(
      {back: p.classList.contains('back')}, p.dataset)),
  starts: Array.from(document.querySelectorAll('svg.sankey g.node[data-column="0"]')).map(g => g.dataset.step),
  heading: document.querySelector('section.paths h2').textContent,
  box: document.querySelector('svg.sankey').getBoundingClientRect().toJSON(),
  pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth})"""


def test_the_page_draws_the_paths_journeys_paths_counts(map_warehouse: Client, map_settings: Settings,
                                                          tmp_path: Path) -> None:
    """Under the map, a Sankey of the paths from a chosen step: its bands are the rows of the paths
    analysis (`journeys paths --from-step call_centre.sales --depth 3`), and the story reads in it:
    of March's 12 customers, the 4 transferred three times on the sales call give up there; the
    other 8 go on to the checkout, order, and call support the next day."""
    from clickhouse.analyses.named import Extra, run_analysis

    experience_map, _ = draw(map_settings, MapRequest(start=MARCH, end=APRIL, paths_from="call_centre.sales"))
    page = tmp_path / "map.html"
    page.write_text(render_html(experience_map), encoding="utf-8")
    seen = browser.visit(page, SANKEY_JS)
    assert seen.console_errors == []
    shown = json.loads(seen.values)
    rows = run_analysis(map_warehouse, "paths", window(MARCH, APRIL, None),
                        Extra(anchor="call_centre.sales", depth=3)).rows
    assert {(int(x["position"]), x["from"], x["to"], int(x["transitions"])) for x in shown["links"]} == {
        (int(r[1]), r[2], r[3], int(r[4])) for r in rows}
    first = [x for x in shown["links"] if x["position"] == "1"]
    assert [(x["from"], x["to"], x["transitions"]) for x in first] == [
        ("call_centre.sales:call_answered", "web.checkout:checkout_step", str(CUSTOMERS_PER_MONTH * 2 // 3))]
    assert shown["starts"] == ["call_centre.sales:call_answered"] and not any(x["back"] for x in shown["links"])
    assert shown["heading"] == "Paths from call_centre.sales"
    assert 0 < shown["box"]["width"] <= shown["viewport"] and shown["pageWidth"] <= shown["viewport"]
