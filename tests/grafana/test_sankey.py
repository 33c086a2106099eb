"""The paths Sankey's layout: bands as wide as their transitions, never more than their nodes hold,
and a band back to a step already taken marked as a step back (a loop)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from grafana.experience_map.sankey import Transition, duration, layout, sankey_svg

STEPS = ("web.product:product_view", "web.checkout:checkout_step", "web.checkout:payment_error",
         "call_centre.support:call_answered")


def t(position: int, a: str, b: str, n: int) -> Transition:
    return Transition(position, a, b, n, n, 1.0, 30.0)


def test_a_step_back_is_marked_and_the_rest_flows_on() -> None:
    svg = sankey_svg([t(1, STEPS[1], STEPS[2], 40), t(2, STEPS[2], STEPS[1], 30), t(2, STEPS[2], STEPS[3], 10),
                      t(1, STEPS[0], STEPS[1], 5)])
    ET.fromstring(svg)  # well-formed, as browsers parse it inline
    backs = re.findall(r'<path class="link back"[^>]*data-from="([^"]+)" data-to="([^"]+)"', svg)
    assert backs == [(STEPS[2], STEPS[1])]  # checkout -> error -> checkout again: the loop
    assert svg.count('class="link"') == 3


transitions = st.lists(st.builds(t, st.integers(1, 3), st.sampled_from(STEPS), st.sampled_from(STEPS),
                                 st.integers(1, 10_000)), min_size=1, max_size=25)


@given(transitions)
def test_bands_fit_their_nodes_and_nodes_fit_the_height(drawn: list[Transition]) -> None:
    unique = list({(x.position, x.from_step, x.to_step): x for x in drawn}.values())  # the analysis's rows are unique
    nodes, scale = layout(unique)
    for (column, step), node in nodes.items():
        leaving = sum(x.transitions for x in unique if x.position - 1 == column and x.from_step == step)
        arriving = sum(x.transitions for x in unique if x.position == column and x.to_step == step)
        assert node.value == max(leaving, arriving)
        assert leaving * scale <= node.height + 1e-6 and arriving * scale <= node.height + 1e-6
        assert node.y + node.height <= 360.0 + 1e-6 or node.height == 1.0
    svg = sankey_svg(unique)
    assert svg.count("<path ") == len(unique)
    ET.fromstring(svg)


def test_median_times_read_as_people_say_them() -> None:
    assert [duration(s) for s in (4.4, 59.6, 200, 3600, 7500, 3 * 86_400 + 4 * 3600)] == [
        "4 s", "1 min", "3 min 20 s", "1 h", "2 h 5 min", "3 d 4 h"]
    assert sankey_svg([]) == ""
