"""Producers stage, pure core: token buckets that bound what one write key or one address sends.

A page's write key is public, so anyone can send with it: the collector answers a key or a client
address that sends faster than its bucket refills with 429 and the seconds to wait. Buckets are
kept for a bounded number of names (the least recently seen is forgotten first), so a flood of
new addresses cannot grow the collector's memory; a forgotten name starts again with a full bucket.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_BUCKETS = 50_000


@dataclass
class _Bucket:
    tokens: float
    at_s: float


class RateLimiter:
    """One token bucket per name: `rate_per_s` tokens a second, at most `burst` kept."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_buckets: int = MAX_BUCKETS) -> None:
        self.rate_per_s, self.burst, self.clock, self.max_buckets = rate_per_s, burst, clock, max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def wait_s(self, name: str, cost: float = 1.0) -> float:
        """Take `cost` tokens for `name`: 0.0 when it may go now, else the seconds until it may."""
        now = self.clock()
        bucket = self._bucket(name, now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at_s) * self.rate_per_s)
        bucket.at_s = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate_per_s

    def _bucket(self, name: str, now: float) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket(float(self.burst), now)
            if len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(name)
        return bucket

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(wait_s: float) -> str:
    """The Retry-After header value: whole seconds, at least 1."""
    return str(max(1, int(-(-wait_s // 1))))
