"""The statistics of incidents, without ClickHouse: counts in, incidents out.

Stories: a checkout that never erred starts erring on mobile for two weeks (one incident, named
mobile, weeks joined); a handful of errors on tiny counts is no incident; the same rate on more
journeys is; a friction rate that halves is an incident in the other direction; a volume spike
is judged by its Poisson baseline.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from clickhouse.analyses.baseline import (
    EVERYONE,
    Count,
    Thresholds,
    concentrate,
    dispersion,
    incidents,
    judge,
    poisson_z,
    two_proportion_z,
)

WEEKS = [datetime(2026, 1, 5, tzinfo=UTC) + timedelta(weeks=n) for n in range(10)]
LIMITS = Thresholds()


def cells(what: str, who: str, numerators: list[int], denominators: list[int], family: str = "step") -> list[Count]:
    return [Count(week, family, "web.checkout", what, who, x, n)
            for week, x, n in zip(WEEKS, numerators, denominators, strict=True) if n or x]


def test_z_is_zero_without_data_and_signed_by_direction() -> None:
    assert two_proportion_z(3, 0, 1, 10) == 0.0
    assert two_proportion_z(30, 100, 10, 100) > 0 > two_proportion_z(10, 100, 30, 100)


def test_continuity_correction_shrinks_small_differences() -> None:
    uncorrected = (2 / 10 - 1 / 10) / math.sqrt(0.15 * 0.85 * (2 / 10))
    assert 0 <= two_proportion_z(2, 10, 1, 10) < uncorrected


def test_poisson_z_grows_with_the_excess() -> None:
    assert poisson_z(40, 10.0) > poisson_z(20, 10.0) > 0 > poisson_z(2, 10.0)


def test_two_weeks_of_mobile_errors_are_one_incident_named_mobile() -> None:
    journeys = [40] * 10
    counts = [*cells("checkout_step", "device_type=mobile", journeys, journeys),
              *cells("error", "device_type=mobile", [0, 0, 0, 0, 0, 0, 15, 12, 0, 0], journeys),
              *cells("checkout_step", EVERYONE, [100] * 10, [100] * 10),
              *cells("error", EVERYONE, [0, 0, 0, 0, 0, 0, 15, 12, 0, 0], [100] * 10)]
    found = incidents(judge(counts, WEEKS, LIMITS), WEEKS)
    assert [(i.start, i.end, i.what, i.who, i.periods) for i in found] == [
        (WEEKS[6], WEEKS[7], "error", "device_type=mobile", 2)]
    assert found[0].baseline_rate == 0 and found[0].effect == math.inf and found[0].rate == round(27 / 80, 4)


def test_few_errors_on_few_journeys_are_no_incident_but_the_same_share_of_more_is() -> None:
    few = cells("error", EVERYONE, [0, 0, 0, 0, 3] + [0] * 5, [6, 6, 6, 6, 6] + [0] * 5)
    assert judge(few, WEEKS, LIMITS) == []
    more = cells("error", EVERYONE, [0, 0, 0, 0, 30] + [0] * 5, [60, 60, 60, 60, 60] + [0] * 5)
    assert [v.count.period for v in judge(more, WEEKS, LIMITS)] == [WEEKS[4]]


def test_a_conversion_that_halves_is_an_incident_downwards() -> None:
    orders = cells("order_placed", EVERYONE, [80, 82, 79, 81, 40, 80, 80, 80, 80, 80], [100] * 10)
    found = incidents(judge(orders, WEEKS, LIMITS), WEEKS)
    assert [(i.start, i.rate, i.baseline_rate) for i in found] == [(WEEKS[4], 0.4, 0.805)]
    assert found[0].effect < 1


def test_ordinary_noise_is_no_incident() -> None:
    orders = cells("order_placed", EVERYONE, [80, 74, 85, 78, 71, 83, 77, 86, 75, 80], [100] * 10)
    assert judge(orders, WEEKS, LIMITS) == []


def test_a_volume_spike_against_its_mean() -> None:
    volume = [Count(week, "volume", "web.help", "events", EVERYONE, x, 0)
              for week, x in zip(WEEKS, [50, 55, 48, 52, 120, 51, 50, 49, 53, 50], strict=True)]
    assert [v.count.period for v in judge(volume, WEEKS, LIMITS)] == [WEEKS[4]]


def test_a_change_of_everyone_names_the_value_that_holds_it() -> None:
    everyone = cells("back_step", EVERYONE, [0, 0, 0, 0, 12, 0, 0, 0, 0, 0], [100] * 10)
    desktop = cells("back_step", "device_type=desktop", [0, 0, 0, 0, 11, 0, 0, 0, 0, 0], [35] * 10)
    mobile = cells("back_step", "device_type=mobile", [0, 0, 0, 0, 1, 0, 0, 0, 0, 0], [55] * 10)
    counts = [*everyone, *desktop, *mobile]
    found = concentrate(incidents(judge(everyone, WEEKS, LIMITS), WEEKS), counts)
    assert [(i.who, i.concentrated_in) for i in found] == [(EVERYONE, "device_type=desktop")]
    spread = [*everyone, *cells("back_step", "device_type=desktop", [0, 0, 0, 0, 6] + [0] * 5, [35] * 10)]
    assert [i.concentrated_in for i in concentrate(incidents(judge(everyone, WEEKS, LIMITS), WEEKS), spread)] == [""]


def test_a_seasonal_baseline_compares_a_day_with_the_same_weekdays() -> None:
    days = [datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=n) for n in range(5 * 7)]
    weekend = {5, 6}
    numerators = [30 if d.weekday() in weekend else 10 for d in days]
    counts = [Count(d, "step", "web.checkout", "error", EVERYONE, x, 100) for d, x in zip(days, numerators, strict=True)]
    assert judge(counts, days, Thresholds(season=1))  # every Saturday looks like an incident against Fridays
    assert judge(counts, days, Thresholds(season=7)) == []


def test_a_weaker_week_in_the_middle_continues_the_incident_instead_of_splitting_it() -> None:
    """A loop that struck fewer customers in its second week: too few to start an incident, enough
    to continue one; left in the baseline it would hide the third week."""
    journeys = [12, 11, 12, 13, 12, 10, 12, 19, 18, 18]
    loops = cells("back_step", "device_type=desktop", [0, 0, 0, 0, 0, 8, 4, 9, 0, 0], journeys)
    found = incidents(judge(loops, WEEKS, LIMITS), WEEKS)
    assert [(i.start, i.end, i.periods) for i in found] == [(WEEKS[5], WEEKS[7], 3)]


def test_a_continued_incident_still_ends_when_the_rate_is_back() -> None:
    orders = cells("error", EVERYONE, [1, 0, 1, 0, 30, 2, 1, 0, 1, 0], [100] * 10)
    found = incidents(judge(orders, WEEKS, LIMITS), WEEKS)
    assert [(i.start, i.end) for i in found] == [(WEEKS[4], WEEKS[4])]


def test_a_share_that_swings_by_itself_needs_more_to_be_news_in_short_periods() -> None:
    """Live periods: an e-mail 'opened' share swinging 30-70 % between its baseline periods (opens
    land in the period after their sends) reaching 93 % is no incident once z allows for the swing;
    a share steady at 0 that reaches 40 % still is."""
    swinging = few("opened", [15, 35, 16, 34, 44], [50, 50, 50, 50, 47])
    steady = few("error", [0, 0, 0, 0, 12], [50, 50, 50, 50, 30])
    plain, adjusted = LIMITS, Thresholds(live=True)
    assert [v.count.what for v in judge(swinging + steady, WEEKS[:5], plain)] == ["opened", "error"]
    assert [v.count.what for v in judge(swinging + steady, WEEKS[:5], adjusted)] == ["error"]


def test_dispersion_is_one_for_binomial_looking_periods() -> None:
    assert dispersion(few("error", [10, 11, 9, 10], [100, 100, 100, 100])) == 1.0
    assert dispersion(few("error", [0, 0, 0], [50, 50, 50])) == 1.0
    assert dispersion(few("opened", [15, 35, 16, 34], [50, 50, 50, 50])) > 4


def few(what: str, numerators: list[int], denominators: list[int]) -> list[Count]:
    """`cells` of the first periods only."""
    return [Count(week, "step", "web.checkout", what, EVERYONE, x, n)
            for week, x, n in zip(WEEKS, numerators, denominators, strict=False)]


def test_a_live_period_without_its_late_journeys_is_not_judged_yet() -> None:
    """Five frictions of two journeys, six of sixteen: the call centre's batch has not brought the
    calls the (earlier) feedback was about; once the period holds its usual journeys, it is judged."""
    def late(x: int, n: int) -> list[Count]:
        return [Count(week, "friction", "call_centre.support", "nps_detractor", EVERYONE, xi, ni)
                for week, xi, ni in zip(WEEKS, [3, 4, 3, 4, x], [40, 41, 39, 40, n], strict=False)]
    live = Thresholds(live=True)
    assert judge(late(5, 2), WEEKS[:5], live) == [] and judge(late(6, 16), WEEKS[:5], live) == []
    assert [v.count.numerator for v in judge(late(16, 40), WEEKS[:5], live)] == [16]


def test_more_journeys_with_a_friction_than_at_its_touchpoint_is_no_evidence_and_no_error() -> None:
    """Seen in a live `up` of 20,000 customers: `journeys incidents` answered 'math domain error'."""
    assert two_proportion_z(7, 5, 3, 2) == 0.0
