"""The live page's grid, from hand-made query rows: readable figures, idle touchpoints folded away.

Story: the old page drew a row for every touchpoint of the map (most of them empty), printed
"CSAT n/a" wherever no feedback was given and shares with one decimal everywhere. The live grid
shows only touchpoints with a step in the period (their channel headers too), lists the others in
one line, and writes figures as people say them.
"""

from __future__ import annotations

import re
from html import escape

from grafana.experience_map.live import live_page
from grafana.experience_map.model import compare, moments_of_truth
from grafana.experience_map.page import map_fragment, pct, points
from tests.grafana.test_experience_map_render import JOURNEY_MAP, PHASES, hand_made, outcome


def test_only_touchpoints_with_steps_have_rows_and_the_rest_are_named_once() -> None:
    m = hand_made()
    fragment = map_fragment(m)
    rows = re.findall(r'<tr class="touchpoint" data-touchpoint="([^"]+)"', fragment)
    assert sorted(rows) == sorted({tp for _, tp in m.cells})
    channels = re.findall(r'<tr class="channel"><th[^>]*>([^<]+)</th>', fragment)
    assert channels == ["web", "call centre"]  # e-mail and store have no step: no header
    idle = [t.label for t in JOURNEY_MAP.touchpoints if t.id not in {tp for _, tp in m.cells}]
    assert all(escape(label) in fragment.split('class="folded"')[1] for label in idle)


def test_figures_read_as_people_say_them() -> None:
    fragment = map_fragment(hand_made())
    assert "n/a" not in fragment and "CSAT 2.0 of 5" in fragment
    assert "12 events · 100% of customers" in fragment and "friction 40% · transfers" in fragment
    assert "friction 100% · long wait" in fragment  # rule names as words: they wrap, never clip
    assert "★ moment of truth · lift +100 pt" in fragment
    assert [pct(v) for v in (0.0, 0.045, 0.3333, 1.0)] == ["0%", "4.5%", "33%", "100%"]
    assert points(-0.116) == "-12 pt"


def test_comparison_cells_and_page_pickers() -> None:
    comparison = compare(hand_made(support_frictions=0, csat=4.5, support_steps=40), hand_made(40, support_steps=40))
    fragment = map_fragment(comparison.after, comparison)
    assert 'data-verdict="better"' in fragment and "friction 0% (-100 pt)" in fragment
    assert "CSAT 4.5 (+2.5)" in fragment and "compared with 2026-03-01 to 2026-04-01" in fragment
    page = live_page(comparison.after, comparison, {"segment": "family", "from": "2026-03-01"}, ["business", "family"])
    assert '<option value="family" selected>' in page and 'name="from" value="2026-03-01"' in page
    assert "/v1/map/fragment?" in page and "http" not in page.split("<script>")[1]  # no outside request


def test_a_cell_where_friction_changes_nothing_is_no_moment_of_truth() -> None:
    everyone_goes_on = [outcome("compare", "call_centre.sales", True, "purchase", 3),
                        outcome("compare", "call_centre.sales", False, "purchase", 5)]
    assert moments_of_truth(everyone_goes_on, PHASES) == []  # lift 0: shown as "+0 pt" before


def test_svg_cells_keep_their_text_inside_and_leave_out_missing_csat() -> None:
    from grafana.experience_map.render import CELL_TEXT_CHARS, render_svg

    m = hand_made()
    long = m.cells[("compare", "call_centre.sales")]
    m.cells[("compare", "call_centre.sales")] = type(long)(**{**long.__dict__, "top_rule": "abandoned_checkout_retry"})
    texts = re.findall(r'<text[^>]*class="[vfc]"[^>]*>([^<]*)</text>', render_svg(m))
    assert texts and max(len(t) for t in texts) <= CELL_TEXT_CHARS
    assert any(t.startswith("friction 40.0% · abandoned") and t.endswith("…") for t in texts)
    assert not any("n/a" in t for t in texts)
