"""The live experience map in a browser, served by a running worker with its sink.

Story: an operator opens the address `journeys up` prints. Headless Chromium (Debian's) loads the
page from a running `journeys worker --sink`: each cell shows the numbers `journeys query
experience_map` gives at that moment; at 1280 and 1920 px no element's text overflows its box and
no touchpoint row is empty. Then more customers arrive: within 15 s the page shows them by itself,
without reloading. Screenshots of both widths are saved (docs/experience-map-live.png is one).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from foundation.settings import Settings
from grafana.experience_map.browser import Tab
from schemas.journeymap import load_journey_map
from tests.grafana.test_experience_map_render import pixel_colours
from tests.journeys.served import loaded, publish, serving_worker
from tests.reliability import harness as h

PHASES = load_journey_map().phase_ids
WIDTHS_PX = (1280, 1920)
UPDATE_WITHIN_S = 15.0
FIRST, LATER = (40, 21), (30, 22)  # (customers, seed) published before and after the page is open

PAGE_JS = """JSON.stringify({
  cells: Array.from(document.querySelectorAll('td.cell[data-volume]')).map(td => Object.assign(
      {lines: Array.from(td.children).map(d => d.textContent)}, td.dataset)),
  overflowing: Array.from(document.querySelectorAll('body *')).filter(e => !(e instanceof SVGElement)
      && e.clientWidth > 0 && e.scrollWidth > e.clientWidth).map(e => e.tagName + ': ' + e.textContent.slice(0, 60)),
  emptyRows: Array.from(document.querySelectorAll('tr.touchpoint')).filter(r => !r.querySelector('td.cell[data-volume]'))
      .map(r => r.dataset.touchpoint),
  pageWidth: document.documentElement.scrollWidth, marker: window.stillTheSamePage || null})"""


def shown(tab: Tab) -> dict[str, Any]:
    found: dict[str, Any] = orjson.loads(tab.evaluate(PAGE_JS))
    return found


def as_cells(page: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {(c["phase"], c["touchpoint"], int(c["volume"]), int(c["customers"]), float(c["share"]),
             float(c["frictionRate"]), c["topRule"] or None, float(c["csat"]) if c["csat"] else None)
            for c in page["cells"]}


def queried(settings: Settings) -> set[tuple[Any, ...]]:
    """`journeys query experience_map` (answered by the running worker): the cells with steps in the
    map's phases (the query also reports steps outside every phase, as phase 'none': not on the map)."""
    answer = h.journeys(settings, "query", "experience_map", "--format", "json")
    rows = orjson.loads(answer.stdout)
    return {(r["phase"], r["touchpoint"], r["steps"], r["customers"], float(r["share_of_customers"]),
             float(r["friction_rate"] or 0.0), r["top_friction_rule"] or None,
             round(float(r["avg_csat"]), 2) if r["avg_csat"] is not None else None) for r in rows if r["steps"] and r["phase"] in PHASES}


def test_the_live_map_shows_the_query_fits_the_window_and_updates_itself(settings: Settings, tmp_path: Path) -> None:
    with serving_worker(settings, tmp_path / "worker") as (local, url), Tab() as tab:
        loaded(local, publish(local, *FIRST))
        for width in WIDTHS_PX:
            tab.open(f"{url}/map", width)
            page = shown(tab)
            assert page["overflowing"] == [] and page["emptyRows"] == [] and page["pageWidth"] <= width, page
            assert as_cells(page) == queried(local)
            for cell in page["cells"]:
                assert cell["lines"][0].startswith(f"{int(cell['volume']):,} events · ")
            screenshot = tab.screenshot()
            assert len(pixel_colours(screenshot)) > 20
            (tmp_path / f"experience-map-live-{width}.png").write_bytes(screenshot)
        tab.evaluate("window.stillTheSamePage = 'yes'")
        before = sum(int(c["volume"]) for c in shown(tab)["cells"])
        publish(local, *LATER)
        published_at, after = time.monotonic(), before
        while after == before and time.monotonic() - published_at < UPDATE_WITHIN_S:
            time.sleep(0.5)
            after = sum(int(c["volume"]) for c in shown(tab)["cells"])
        assert after > before, f"the page did not update within {UPDATE_WITHIN_S} s"
        print(f"the page showed the new events {time.monotonic() - published_at:.1f} s after they were published")
        assert shown(tab)["marker"] == "yes"  # updated in place, not reloaded
        assert tab.console_errors() == []
