"""The worker's per-minute health figures: counts add up, lag keeps the minute's largest sample."""

from __future__ import annotations

from streams.health import HealthCounter

MINUTE = 60.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % MINUTE


def test_a_minute_is_handed_over_once_it_is_over_with_counts_and_its_largest_lag() -> None:
    health = HealthCounter()
    health.count(T0 + 1, "web", dead=False)
    health.count(T0 + 2, "web", dead=True)
    health.lag(T0 + 3, "web", 500)
    health.lag(T0 + 40, "web", 120)
    health.lag(T0 + 41, "stage:customers", 7)
    assert health.closed(T0 + 59) == []  # the minute is not over yet
    samples = {s.channel: s for s in health.closed(T0 + MINUTE)}
    assert (samples["web"].events, samples["web"].dead_letters, samples["web"].lag) == (1, 1, 500)
    assert (samples["stage:customers"].events, samples["stage:customers"].lag) == (0, 7)
    assert health.closed(T0 + 2 * MINUTE) == []  # handed over once


def test_lag_is_never_negative_and_everything_flushes_the_current_minute() -> None:
    health = HealthCounter()
    health.lag(T0, "email", -3)  # a position past a stale high watermark
    [sample] = health.closed(T0 + 1, everything=True)
    assert (sample.channel, sample.lag) == ("email", 0)
