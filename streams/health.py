"""Streams adapter support: per-minute operations figures turned into HealthSample records.

The worker counts events and dead letters per channel as it goes, and samples its consumer lag
(messages on the broker not yet read: the partition's high watermark from the latest fetch minus
the consumer's position) per raw channel and per internal work topic. Once a minute has passed,
that minute's figures are published to pipeline.health, where the warehouse stores them; lag is
the largest sampled in the minute. Each sample names its reporter (the worker process), so the
minutes of several workers add up. A worker that stops when idle publishes every minute still
counted and, running the warehouse sink itself, waits until the sink has written them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from schemas.outputs import HealthSample

SECONDS_PER_MINUTE = 60
WRITTEN_POLL_S = 0.1


class HealthCounter:
    """Counts and lag per (minute, channel); `closed()` hands over the minutes that are over."""

    def __init__(self, reporter: str = "") -> None:
        self.reporter = reporter  # who counts (HealthSample.reporter)
        self.events: Counter[tuple[int, str]] = Counter()
        self.dead: Counter[tuple[int, str]] = Counter()
        self.lags: dict[tuple[int, str], int] = {}

    def count(self, now_s: float, channel: str, dead: bool, events: int = 1) -> None:
        """`events` more events (or dead letters) of `channel` in the minute of `now_s`."""
        if events:
            key = (int(now_s // SECONDS_PER_MINUTE), channel)
            (self.dead if dead else self.events)[key] += events

    def lag(self, now_s: float, channel: str, messages: int) -> None:
        """A sample of how far behind the worker reads `channel` (the minute keeps its largest)."""
        key = (int(now_s // SECONDS_PER_MINUTE), channel)
        self.lags[key] = max(self.lags.get(key, 0), max(messages, 0))

    def closed(self, now_s: float, everything: bool = False) -> list[HealthSample]:
        current = int(now_s // SECONDS_PER_MINUTE)
        keys = {k for k in (*self.events, *self.dead, *self.lags) if everything or k[0] < current}
        samples = [HealthSample(minute=datetime.fromtimestamp(minute * SECONDS_PER_MINUTE, UTC), stage="worker",
                                channel=channel, events=self.events.pop((minute, channel), 0),
                                dead_letters=self.dead.pop((minute, channel), 0),
                                lag=self.lags.pop((minute, channel), 0), reporter=self.reporter)
                   for minute, channel in sorted(keys)]
        return samples


async def written_by_sink(written: Callable[[], int], target: int, timeout_s: float) -> bool:
    """Wait until a sink's count of written records (`written()`) reaches `target`: True, or False
    once `timeout_s` passed. The sink counts a record only after its insert succeeded."""
    deadline = time.monotonic() + timeout_s
    while written() < target:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(WRITTEN_POLL_S)
    return True
