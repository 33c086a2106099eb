"""The experience map's pure core and renderers, from hand-made query rows (no warehouse)."""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

from grafana.experience_map.live import render_html
from grafana.experience_map.model import (
    Comparison,
    ExperienceMap,
    MapRows,
    build_map,
    compare,
    emotion_label,
    emotion_score,
    moments_of_truth,
    verdict,
)
from grafana.experience_map.render import render_svg
from schemas.journeymap import load_journey_map

JOURNEY_MAP = load_journey_map()
PHASES = JOURNEY_MAP.phase_ids


def cell_row(phase: str, touchpoint: str, steps: int, customers: int, frictions: int = 0, rule: str = "",
             csat: float | None = None, total: int = 10) -> dict[str, Any]:
    return {"phase": phase, "touchpoint": touchpoint, "steps": steps, "customers": customers,
            "share_of_customers": round(customers / total, 4), "frictions": frictions,
            "friction_rate": round(frictions / steps, 4), "top_friction_rule": rule, "avg_csat": csat}


def outcome(phase: str, touchpoint: str, with_friction: bool, furthest: str, journeys: int) -> dict[str, Any]:
    return {"phase": phase, "touchpoint": touchpoint, "with_friction": with_friction, "furthest_phase": furthest,
            "journeys": journeys}


def hand_made(support_frictions: int = 8, csat: float = 2.0, support_steps: int = 8) -> ExperienceMap:
    rows = MapRows(
        customers=10,
        cells=[cell_row("research", "web.search", 12, 10),
               cell_row("compare", "call_centre.sales", 10, 10, 4, "transfers"),
               cell_row("after_sales", "call_centre.support", support_steps, 8, support_frictions, "long_wait", csat)],
        phases=[{"phase": "research", "steps": 12, "frictions": 0, "csat": None, "nps": None},
                {"phase": "after_sales", "steps": support_steps, "frictions": support_frictions, "csat": csat, "nps": 2.0}],
        outcomes=[outcome("compare", "call_centre.sales", True, "compare", 4),
                  outcome("compare", "call_centre.sales", False, "purchase", 6),
                  outcome("research", "web.search", False, "purchase", 6),
                  outcome("research", "web.search", False, "research", 4)],
        frictions=[{"phase": "compare", "touchpoint": "call_centre.sales", "rule": "transfers", "frictions": 4},
                   {"phase": "after_sales", "touchpoint": "web.checkout", "rule": "low_csat", "frictions": 2}])
    return build_map(rows, JOURNEY_MAP, "family", ("2026-03-01", "2026-04-01"))


def test_cells_keep_the_query_figures() -> None:
    m = hand_made()
    support = m.cells[("after_sales", "call_centre.support")]
    assert (support.volume, support.share, support.friction_rate, support.top_rule, support.csat) == (
        8, 0.8, 1.0, "long_wait", 2.0)
    assert m.cells[("research", "web.search")].top_rule is None


def test_emotion_blends_satisfaction_and_friction() -> None:
    assert emotion_score(None, None, 0.0) == 1.0
    assert emotion_score(5.0, 10.0, 0.0) == 1.0
    assert emotion_score(1.0, 0.0, 1.0) == -1.0
    assert emotion_score(3.0, 5.0, 0.25) == 0.25
    assert [emotion_label(s) for s in (0.9, 0.2, 0.0, -0.3, -0.8)] == [
        "happy", "satisfied", "indifferent", "frustrated", "angry"]
    curve = {p.phase: p for p in hand_made().emotion}
    assert list(curve) == list(PHASES)
    assert curve["research"].label == "happy" and curve["after_sales"].label == "angry"
    assert (curve["compare"].score, curve["compare"].label) == (0.0, "no data")


def test_moment_of_truth_needs_both_groups_and_ranks_by_lift() -> None:
    moments = hand_made().moments
    assert [(m.phase, m.touchpoint, m.lift) for m in moments] == [("compare", "call_centre.sales", 1.0)]
    last_phase = moments_of_truth([outcome("after_sales", "email.support", True, "after_sales", 9),
                                   outcome("after_sales", "email.support", False, "after_sales", 9)], PHASES)
    assert last_phase == []


def test_comparison_verdicts() -> None:
    comparison = compare(hand_made(support_frictions=0, csat=4.5, support_steps=40), hand_made(40, support_steps=40))
    support = comparison.changes[("after_sales", "call_centre.support")]
    assert (support.verdict, support.friction_rate, support.csat) == ("better", -1.0, 2.5)
    assert comparison.changes[("research", "web.search")].verdict == "same"
    assert verdict(4.0, 0.0) == "worse" and verdict(2.9, 0.0) == "same" and verdict(-3.1, 9.0) == "better"
    assert verdict(1.0, -3.5) == "quieter" and verdict(0.0, 3.0) == "busier"


def test_svg_draws_labels_cells_curve_and_moments() -> None:
    svg = render_svg(hand_made())
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert all(label in svg for _, label in hand_made().phases)
    assert "Call centre: support line" in svg and "E-mail: campaigns" in svg
    assert "8 events · 80.0% of cust." in svg and "friction 100.0% · long wait" in svg and "CSAT 2.00" in svg
    assert svg.count('class="cell moment"') == 1 and "★ moment of truth · lift +100.0 pts" in svg
    assert svg.count('class="emotion"') == len(PHASES) and "<polyline" in svg


def test_frictions_without_a_cell_are_listed_under_the_grid() -> None:
    m = hand_made()
    assert m.off_grid == (("after_sales", "web.checkout", "low_csat", 2),)
    assert off_grid_shown(render_html(m)) == ["Web: cart &amp; checkout</b> in After-sales: 2 low csat"]


def test_a_friction_only_cell_of_the_query_is_listed_under_the_grid_not_drawn() -> None:
    base = hand_made()
    only = {"phase": "after_sales", "touchpoint": "web.checkout", "steps": 0, "customers": 0,
            "share_of_customers": 0.0, "frictions": 2, "friction_rate": None, "top_friction_rule": "low_csat",
            "avg_csat": None}
    rows = MapRows(customers=10, cells=[*[cell_row(c.phase, c.touchpoint, c.volume, c.customers) for c in
                                          base.cells.values()], only], phases=[], outcomes=[],
                   frictions=[{"phase": "after_sales", "touchpoint": "web.checkout", "rule": "low_csat",
                               "frictions": 2}])
    m = build_map(rows, JOURNEY_MAP, "family", ("2026-03-01", "2026-04-01"))
    assert ("after_sales", "web.checkout") not in m.cells and len(m.cells) == len(base.cells)
    assert m.off_grid == (("after_sales", "web.checkout", "low_csat", 2),)
    assert off_grid_shown(render_html(m)) == ["Web: cart &amp; checkout</b> in After-sales: 2 low csat"]


def off_grid_shown(page: str) -> list[str]:
    """The pain points the page lists outside the grid (a touchpoint without a step in that phase)."""
    return re.findall(r'<li class="pain off-grid"[^>]*><b>(.*?) \(no step there', page)


def test_html_is_self_contained() -> None:
    page = render_html(hand_made())
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert re.findall(r"""(?:src|href)\s*=\s*["']?\s*https?://|url\(\s*["']?https?://|@import""", page) == []
    assert "<link" not in page and "font-face" not in page


def test_comparison_page_colours_better_and_worse() -> None:
    comparison: Comparison = compare(hand_made(support_frictions=0, csat=4.5, support_steps=40), hand_made(40, support_steps=40))
    page = render_html(comparison.after, comparison)
    assert 'data-verdict="better"' in page and "friction 0% (-100 pt)" in page and "CSAT 4.5 (+2.5)" in page
    assert "compared with 2026-03-01 to 2026-04-01" in page


def pixel_colours(png: bytes) -> set[bytes]:
    """The distinct pixel colours of an 8-bit RGB or RGBA PNG (decoded with zlib, filters undone)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour_type = struct.unpack(">IIBB", png[16:26])
    assert depth == 8 and colour_type in (2, 6)
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(_chunks(png, b"IDAT")))
    stride, rows, previous = width * channels, [], bytearray(width * channels)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        previous = _unfilter(line[0], bytearray(line[1:]), previous, channels)
        rows.append(bytes(previous))
    return {row[i:i + channels] for row in rows for i in range(0, stride, channels * 7)}


def _chunks(png: bytes, kind: bytes) -> list[bytes]:
    found, at = [], 8
    while at < len(png):
        length, name = struct.unpack(">I4s", png[at:at + 8])
        if name == kind:
            found.append(png[at + 8:at + 8 + length])
        at += 12 + length
    return found


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> bytearray:
    for i in range(len(line)):
        left, up = line[i - bpp] if i >= bpp else 0, prev[i]
        corner = prev[i - bpp] if i >= bpp else 0
        line[i] = (line[i] + _predict(kind, left, up, corner)) & 0xFF
    return line


def _predict(kind: int, left: int, up: int, corner: int) -> int:
    if kind == 0:
        return 0
    if kind in (1, 2):
        return left if kind == 1 else up
    if kind == 3:
        return (left + up) // 2
    p = left + up - corner
    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
    return left if pa <= pb and pa <= pc else up if pb <= pc else corner


def test_pixel_colours_decodes_a_png() -> None:
    rows = b"".join(b"\x01" + bytes([10, 20, 30, 5, 5, 5]) for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")
    assert pixel_colours(png) == {bytes([10, 20, 30])}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def shop(steps: int, frictions: int, customers: int = 100, help_events: int = 40) -> ExperienceMap:
    rows = MapRows(customers=customers, phases=[], outcomes=[],
                   cells=[cell_row("purchase", "web.checkout", steps, customers, frictions, "abandoned_checkout",
                                   total=customers),
                          cell_row("after_sales", "web.help", help_events, customers // 2, total=customers)])
    return build_map(rows, JOURNEY_MAP, None, ("2026-03-01", "2026-04-01"))


def test_a_small_rise_of_the_friction_rate_on_many_steps_is_worse_a_large_one_on_few_is_not() -> None:
    many = compare(shop(4000, 160), shop(4000, 80)).changes[("purchase", "web.checkout")]
    assert (many.friction_rate, many.verdict) == (0.02, "worse") and many.friction_z > 3
    few = compare(shop(8, 3), shop(8, 1)).changes[("purchase", "web.checkout")]
    assert few.friction_rate == 0.25 and few.verdict == "same"


def test_doubled_help_centre_events_per_customer_are_busier_not_same() -> None:
    change = compare(shop(400, 8, help_events=84), shop(400, 8, help_events=40)).changes[("after_sales", "web.help")]
    assert (change.verdict, change.friction_rate) == ("busier", 0.0) and change.volume_z > 3
    more_customers = compare(shop(800, 16, customers=200, help_events=80), shop(400, 8, help_events=40))
    assert more_customers.changes[("after_sales", "web.help")].verdict == "same"


def test_the_dimension_behind_a_change_is_named_on_its_cell() -> None:
    comparison = compare(shop(4000, 160), shop(4000, 80), {"web.checkout": "device_type=mobile"})
    assert comparison.changes[("purchase", "web.checkout")].concentrated_in == "device_type=mobile"
    assert comparison.changes[("after_sales", "web.help")].concentrated_in == ""  # no change there
    svg, html = render_svg(comparison.after, comparison), render_html(comparison.after, comparison)
    assert "mostly device_type=mobile" in svg and "mostly device_type=mobile" in html
    assert 'data-verdict="worse"' in html and "worse (z +" in html
