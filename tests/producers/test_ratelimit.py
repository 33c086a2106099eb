"""Token buckets per write key and per address, on a hand-driven clock."""

from __future__ import annotations

from producers.web.ratelimit import RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_a_burst_passes_then_the_next_waits_for_a_token() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=clock)
    assert [limiter.wait_s("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait_s("a") == 0.5
    clock.now_s += 0.5
    assert limiter.wait_s("a") == 0.0 and limiter.wait_s("a") > 0


def test_names_have_their_own_buckets_and_refill_stops_at_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=clock)
    assert limiter.wait_s("a") == limiter.wait_s("a") == 0.0 and limiter.wait_s("a") > 0
    assert limiter.wait_s("b") == 0.0
    clock.now_s += 3600
    assert [limiter.wait_s("a") for _ in range(3)][:2] == [0.0, 0.0] and limiter.wait_s("a") > 0


def test_a_flood_of_new_names_keeps_memory_bounded() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=Clock(), max_buckets=100)
    for n in range(10_000):
        limiter.wait_s(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter) == 100


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert [retry_after(w) for w in (0.01, 1.0, 1.2, 7.9)] == ["1", "1", "2", "8"]
