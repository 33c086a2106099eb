"""Experience map, service: wires the warehouse queries, the pure core and the renderers.

`draw_from` reads one window (and optionally a baseline window to compare with) from the
warehouse client it is given (the entry layer opens it: `journeys map`, the read endpoint), builds
the map, and `write` saves it as HTML, SVG or PNG by the output file's suffix (PNG: a
headless-Chromium screenshot of the HTML page).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client

from clickhouse.analyses.baseline import EVERYONE
from clickhouse.analyses.explain import explain
from clickhouse.queries import Filters
from grafana.experience_map import browser
from grafana.experience_map.live import render_html
from grafana.experience_map.model import Comparison, ExperienceMap, build_map, compare
from grafana.experience_map.queries import fetch, fetch_paths, period_label, window
from grafana.experience_map.render import render_svg
from schemas.errors import RenderError
from schemas.journeymap import JourneyMap

FORMATS = (".html", ".svg", ".png")
CONCENTRATED = 0.5  # a value behind at least half of a change names it


@dataclass(frozen=True)
class MapRequest:
    segment: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    compare_start: datetime | None = None
    compare_end: datetime | None = None
    where: tuple[str, str] | None = None  # (dimension, value): only what carried it (device_type, mobile)
    paths_from: str = ""  # the step the paths start from ('' = each journey's start)

    def current(self) -> Filters:
        return window(self.start, self.end, self.segment, self.where)

    def baseline(self) -> Filters | None:
        if self.compare_start is None and self.compare_end is None:
            return None
        return window(self.compare_start, self.compare_end, self.segment, self.where)


def draw_from(client: Client, journey_map: JourneyMap, request: MapRequest) -> tuple[ExperienceMap, Comparison | None]:
    """The map of the requested window, and its comparison with the baseline window if one is asked."""
    current = replace(_map(client, request.current(), request.segment, journey_map),
                      paths=fetch_paths(client, request.current(), request.paths_from), paths_from=request.paths_from)
    baseline = request.baseline()
    if baseline is None:
        return current, None
    before = _map(client, baseline, request.segment, journey_map)
    return current, compare(current, before, concentration(client, request.current(), baseline, journey_map))


def concentration(client: Client, current: Filters, baseline: Filters, journey_map: JourneyMap) -> dict[str, str]:
    """Per touchpoint, the dimension value holding most of its largest change (`journeys explain`:
    at least half of the change of everyone's rate), when the baseline comes before the period."""
    if not journey_map.dimension_names or baseline.end > current.start:
        return {}
    named: dict[str, str] = {}
    for row in explain(client, current, baseline.start, baseline.end, journey_map.dimension_names):
        if row.who != EVERYONE and row.touchpoint not in named and row.share_of_change >= CONCENTRATED:
            named[row.touchpoint] = row.who
    return named


def _map(client: Client, filters: Filters, segment: str | None, journey_map: JourneyMap) -> ExperienceMap:
    rows = fetch(client, filters, journey_map.phase_ids)
    return build_map(rows, journey_map, segment, period_label(filters, client, journey_map.phase_ids))


def write(out: Path, experience_map: ExperienceMap, comparison: Comparison | None = None) -> Path:
    """Save the map; the format follows the suffix (.html, .svg or .png)."""
    svg = out.suffix.lower() == ".svg"
    document = render_svg(experience_map, comparison) if svg else render_html(experience_map, comparison)
    return write_document(out, document)


def write_document(out: Path, document: str) -> Path:
    """Save a rendered map: an SVG or HTML document as is, or HTML as a PNG screenshot (by the suffix)."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise RenderError("map", f"unknown output format {out.suffix!r}: use {', '.join(FORMATS)}")
    if suffix in (".svg", ".html"):
        out.write_text(document, encoding="utf-8")
        return out
    with tempfile.TemporaryDirectory(prefix="journeys-map-") as tmp:
        page = Path(tmp) / "map.html"
        page.write_text(document, encoding="utf-8")
        browser.screenshot(page, out)
    return out
