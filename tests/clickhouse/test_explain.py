"""What explains a change, without ClickHouse: window counts in, contributions out.

Checkout errors doubled for everyone; mobile's errors rose well beyond its own baseline while
desktop's fell: mobile explains more than all of the change, desktop a negative part. A cell
that did not change clearly is not explained at all.
"""

from __future__ import annotations

from clickhouse.analyses.explain import BASELINE, CURRENT, WindowCount, contributions


def cell(what: str, who: str, before: tuple[int, int], now: tuple[int, int]) -> list[WindowCount]:
    return [WindowCount(BASELINE, "step", "web.checkout", what, who, *before),
            WindowCount(CURRENT, "step", "web.checkout", what, who, *now)]


def test_the_value_whose_rate_rose_explains_the_change() -> None:
    counts = [*cell("error", "*", (10, 200), (40, 200)), *cell("error", "device_type=mobile", (5, 100), (38, 100)),
              *cell("error", "device_type=desktop", (5, 100), (2, 100)),
              *cell("order_placed", "*", (150, 200), (148, 200))]
    found = [(c.what, c.who, c.excess, c.share_of_change) for c in contributions(counts)]
    assert found == [("error", "*", 30.0, 1.0), ("error", "device_type=mobile", 33.0, 1.1),
                     ("error", "device_type=desktop", -3.0, -0.1)]


def test_a_step_never_seen_before_has_the_touchpoints_journeys_as_baseline() -> None:
    counts = [*cell("checkout_step", "*", (100, 100), (100, 100)), *cell("checkout_step", "device_type=mobile",
                                                                         (50, 50), (50, 50)),
              WindowCount(CURRENT, "step", "web.checkout", "error", "*", 20, 100),
              WindowCount(CURRENT, "step", "web.checkout", "error", "device_type=mobile", 20, 50)]
    found = contributions(counts)
    assert [(c.who, c.baseline_rate, c.share_of_change) for c in found] == [("*", 0.0, 1.0),
                                                                             ("device_type=mobile", 0.0, 1.0)]
    assert found[0].z > 3
